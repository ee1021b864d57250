"""Tests of bpfn/datasets/flyingthings3d.py."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from bpfn.datasets import (FlyingThings3D, MinimizedFlyingThings3D,
                           select_minimized_subset)
from bpfn.datasets import base_flow_dataset as base_module
from bpfn.datasets import flyingthings3d as ft3d_module
from bpfn.registry import DATASETS
from .tiny_data import make_ft3d, write_pair

LOAD = [dict(type='LoadSceneFlowNpy')]


def test_loads_with_x_and_z_flipped(ft3d_root):
    root, clouds = ft3d_root
    dataset = DATASETS.build(
        dict(
            type='FlyingThings3D', data_root=root, split='val', pipeline=LOAD))
    assert len(dataset) == 3
    item = dataset[1]
    pc1, pc2 = clouds['val']['0000001']
    np.testing.assert_array_equal(item['pc1'], pc1)
    np.testing.assert_array_equal(item['pc2'], pc2)
    np.testing.assert_allclose(item['flow'], pc2 - pc1)
    assert item['sample_idx'] == 1 and item['sample_name'] == '0000001'
    assert item['dataset'] == 'FT3D' and item['camera'] == 'ft3d'
    assert (item['pc1'][:, 2] > 0).all()


def test_every_k_and_dataset_name(ft3d_root):
    root, _ = ft3d_root
    dataset = FlyingThings3D(
        root, split='train', every_k=4, dataset_name='FT3D-sub')
    names = [dataset.get_data_info(i)['sample_name'] for i in range(3)]
    assert names == ['0000000', '0000004', '0000008']
    assert dataset.get_data_info(0)['dataset'] == 'FT3D-sub'


def test_offset_subset_is_disjoint(ft3d_root):
    root, _ = ft3d_root
    train = FlyingThings3D(root, split='train', every_k=4)
    quiz = FlyingThings3D(root, split='train', every_k=4, offset=2)
    quiz_names = [quiz.get_data_info(i)['sample_name']
                  for i in range(len(quiz))]
    assert quiz_names == ['0000002', '0000006']
    train_names = {train.get_data_info(i)['sample_name']
                   for i in range(len(train))}
    assert not train_names & set(quiz_names)
    with pytest.raises(ValueError, match=r'offset must be in \[0, '
                       r'every_k=4\), got 4'):
        FlyingThings3D(root, split='train', every_k=4, offset=4)


def test_lazy_init_reads_nothing(tmp_path):
    dataset = FlyingThings3D(str(tmp_path / 'absent'), lazy_init=True)
    with pytest.raises(FileNotFoundError, match='absent'):
        dataset.full_init()


def test_missing_data_root(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(
            FileNotFoundError,
            match=f"data_root '{missing}' does not exist.*"
            r'<data_root>/\{train,val\}/<sample>/pc1.npy'):
        FlyingThings3D(missing)


def test_missing_split_and_empty_split(tmp_path):
    os.makedirs(tmp_path / 'ft3d' / 'train')
    with pytest.raises(FileNotFoundError, match="split folder .*val' does"):
        FlyingThings3D(str(tmp_path / 'ft3d'), split='val')
    with pytest.raises(FileNotFoundError, match='no sample folder'):
        FlyingThings3D(str(tmp_path / 'ft3d'), split='train')
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        FlyingThings3D(str(tmp_path / 'ft3d'), split='test')


def test_incomplete_and_nonstandard_splits_warn(ft3d_root, monkeypatch):
    root, _ = ft3d_root
    os.makedirs(osp.join(root, 'val', 'broken_sample'))
    messages = []
    monkeypatch.setattr(ft3d_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    dataset = FlyingThings3D(root, split='val')
    assert len(dataset) == 3
    assert len(messages) == 2
    assert "1 folder(s) in" in messages[0]
    assert "'broken_sample'" in messages[0]
    assert '3 samples' in messages[1] and 'split has 3824' in messages[1]


def test_bad_files_name_the_file(ft3d_root):
    root, _ = ft3d_root
    dataset = FlyingThings3D(root, split='val', pipeline=LOAD)
    pc2 = osp.join(root, 'val', '0000000', 'pc2.npy')
    os.remove(pc2)
    with pytest.raises(FileNotFoundError, match=f'{pc2}: point cloud file'):
        dataset[0]
    pc1 = osp.join(root, 'val', '0000001', 'pc1.npy')
    np.save(pc1, np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match=f'{pc1}: the point cloud is empty'):
        dataset[1]
    write_pair(
        osp.join(root, 'val', '0000002'), np.ones((5, 3), np.float32),
        np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match='expected as many rows'):
        dataset[2]


def test_select_minimized_subset_is_deterministic():
    names = [f'{i:07d}' for i in range(100)]
    chosen = select_minimized_subset(names, 0.2, seed=0)
    assert len(chosen) == 20 and chosen == sorted(chosen)
    assert select_minimized_subset(names[::-1], 0.2, seed=0) == chosen
    assert select_minimized_subset(names, 0.2, seed=1) != chosen
    with pytest.raises(ValueError, match='ratio'):
        select_minimized_subset(names, 0.0)


def test_minimized_dataset(tmp_path):
    root = str(tmp_path / 'ft3d')
    make_ft3d(root, dict(train=20, val=3), num_points=8)
    mini = MinimizedFlyingThings3D(root, split='train')
    names = [mini.get_data_info(i)['sample_name'] for i in range(len(mini))]
    all_names = [f'{i:07d}' for i in range(20)]
    assert names == select_minimized_subset(all_names, 0.2, 0)
    assert len(MinimizedFlyingThings3D(root, split='val')) == 3


def test_minimized_dataset_reads_the_manifest(tmp_path):
    root = str(tmp_path / 'mini')
    make_ft3d(root, dict(train=4, val=1), num_points=8)
    with open(osp.join(root, 'manifest.json'), 'w') as f:
        json.dump(dict(ratio=0.2, seed=0, samples=['0000001', '0000003']), f)
    mini = MinimizedFlyingThings3D(root)
    assert [mini.get_data_info(i)['sample_name']
            for i in range(2)] == ['0000001', '0000003']
    with pytest.raises(ValueError, match='made with ratio=0.2, seed=0'):
        MinimizedFlyingThings3D(root, seed=1)


def test_size_is_reported_in_one_line(ft3d_root, monkeypatch):
    root, _ = ft3d_root
    messages = []
    monkeypatch.setattr(base_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    FlyingThings3D(root, split='train', every_k=4, offset=1)
    train = osp.join(root, 'train')
    assert messages == [
        f'FlyingThings3D (train): 3 samples (every_k=4, offset=1 of 10 in '
        f'{train})'
    ]
    messages.clear()
    MinimizedFlyingThings3D(root, ratio=0.5, every_k=2)
    assert messages == [
        'MinimizedFlyingThings3D (train): 3 samples (minimized (ratio=0.5, '
        f'seed=0) to 5, then every_k=2, offset=0 of 10 in {train})'
    ]
    messages.clear()
    FlyingThings3D(root, split='val', indices=2)
    assert messages == [
        'FlyingThings3D (val): 2 samples (every_k=1, offset=0 of 3 in '
        f"{osp.join(root, 'val')}; indices=2)"
    ]
    messages.clear()
    lazy = FlyingThings3D(root, split='val', lazy_init=True)
    assert messages == []
    lazy.full_init()
    assert len(messages) == 1 and messages[0].startswith(
        'FlyingThings3D (val): 3 samples')
