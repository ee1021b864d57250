"""Tests of bpfn/datasets/kitti.py."""
import os
import os.path as osp

import numpy as np
import pytest

from bpfn.datasets import KITTI, load_kitti_calibration
from bpfn.datasets import base_flow_dataset as base_module
from bpfn.registry import DATASETS
from .tiny_data import write_pair

LOAD = [dict(type='LoadSceneFlowNpy')]


def test_scenes_with_camera(kitti_root):
    root, clouds = kitti_root
    dataset = DATASETS.build(
        dict(
            type='KITTI',
            data_root=root,
            scenes=['000003', '000002'],
            pipeline=LOAD))
    assert len(dataset) == 2
    item = dataset[0]
    assert item['sample_name'] == '000003' and item['dataset'] == 'KITTI'
    np.testing.assert_array_equal(item['pc1'], clouds['000003'][0])
    np.testing.assert_allclose(item['flow'],
                               clouds['000003'][1] - clouds['000003'][0])
    calib = load_kitti_calibration()
    assert item['camera'] == dict(P_rect_02=calib['000003'])
    assert isinstance(item['camera']['P_rect_02'][0][0], float)


def test_scene_file(kitti_root, tmp_path):
    root, _ = kitti_root
    listing = tmp_path / 'scenes.txt'
    listing.write_text('000002\n\n')
    assert len(KITTI(root, scenes=str(listing))) == 1


def test_standard_scenes_need_all_folders(kitti_root):
    root, _ = kitti_root
    with pytest.raises(
            FileNotFoundError,
            match=r'KITTI: 140 of 142 scene folder\(s\) missing'):
        KITTI(root)


def test_scene_without_calibration_is_named(kitti_root, tmp_path):
    root, _ = kitti_root
    os.makedirs(osp.join(root, '999999'))
    with pytest.raises(
            ValueError, match="scene '999999' has no P_rect_02 entry"):
        KITTI(root, scenes=['000002', '999999'])


def test_missing_data_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='KITTI: data_root'):
        KITTI(str(tmp_path / 'none'), scenes=['000002'])


def test_ground_removal_pipeline(tmp_path):
    pc1 = np.array([[0, -1.6, 5], [1, -1.6, 6], [2, 0.0, 7], [3, -1.5, 50]],
                   np.float32)
    pc2 = np.array([[0, -1.6, 5], [1, -1.0, 6], [2, 0.1, 7], [3, -1.5, 50]],
                   np.float32)
    write_pair(str(tmp_path / 'k' / '000002'), pc1, pc2)
    dataset = KITTI(
        str(tmp_path / 'k'),
        scenes=['000002'],
        pipeline=LOAD + [dict(type='GroundRemoval'),
                         dict(type='DepthFilter')])
    item = dataset[0]
    # Row 0 is ground in both clouds, row 3 is beyond 35 m.
    np.testing.assert_array_equal(item['pc1'], pc1[1:3])
    np.testing.assert_array_equal(item['pc2'], pc2[1:3])


def test_size_is_reported_in_one_line(kitti_root, monkeypatch):
    root, _ = kitti_root
    messages = []
    monkeypatch.setattr(base_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    KITTI(root, scenes=['000002', '000003'])
    assert messages == [f'KITTI: 2 samples (scenes given in {root})']
