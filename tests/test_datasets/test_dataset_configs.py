"""Build the dataloaders of configs/_base_/datasets/*.py on tiny data."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from bpfn.datasets import flow_collate
from bpfn.registry import FUNCTIONS
from .tiny_data import make_ft3d, make_kitti

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / \
    'datasets'


def load(name):
    return Config.fromfile(str(CONFIG_DIR / f'{name}.py'))


def build_loader(cfg):
    """Build a dataloader config without worker processes.

    MMEngine's runner looks collate functions up in its root registry only
    (bpfn's runner resolves them in bpfn's scope); resolve it here.
    """
    cfg = copy.deepcopy(cfg.to_dict())
    cfg.update(num_workers=0, persistent_workers=False)
    cfg['collate_fn'] = dict(type=FUNCTIONS.get(cfg['collate_fn']['type']))
    assert cfg['collate_fn']['type'] is flow_collate
    with DefaultScope.overwrite_default_scope('bpfn'):
        return Runner.build_dataloader(cfg)


def first_batch(cfg):
    return next(iter(build_loader(cfg)))


def zero_flow_outputs(batch):
    outputs = []
    for b, sample in enumerate(batch['data_samples']):
        out = dict(sample)
        out['pc1'] = batch['inputs']['pc1'][b]
        out['pred_flow'] = torch.zeros_like(out['gt_flow'])
        outputs.append(out)
    return outputs


def test_synthetic_config():
    cfg = load('synthetic')
    cfg.train_dataloader.dataset.num_samples = 2
    batch = first_batch(cfg.train_dataloader)
    assert batch['inputs']['pc1'].shape == (2, 8192, 3)
    assert batch['inputs']['pc2'].shape == (2, 8192, 3)
    assert batch['data_samples'][0]['dataset'] == 'Synthetic'
    cfg.val_dataloader.dataset.num_samples = 2
    a, b = first_batch(cfg.val_dataloader), first_batch(cfg.val_dataloader)
    torch.testing.assert_close(
        a['inputs']['pc2'], b['inputs']['pc2'], rtol=0, atol=0)
    assert cfg.test_dataloader.dataset.split == 'test'


def test_ft3d_and_mini_configs(tmp_path):
    root = str(tmp_path / 'ft3d')
    make_ft3d(root, dict(train=10, val=3), num_points=64)
    cfg = load('ft3d')
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = root
    train = build_loader(cfg.train_dataloader)
    assert len(train.dataset) == 3  # every 4th of 10
    batch = next(iter(train))
    assert batch['inputs']['pc1'].shape == (3, 8192, 3)
    val_a = first_batch(cfg.val_dataloader)
    val_b = first_batch(cfg.val_dataloader)
    torch.testing.assert_close(
        val_a['inputs']['pc1'], val_b['inputs']['pc1'], rtol=0, atol=0)
    assert val_a['data_samples'][0]['camera'] == 'ft3d'
    assert cfg.val_evaluator.type == 'SceneFlowMetric'

    mini = load('ft3d_mini')
    mini.train_dataloader.dataset.data_root = root
    dataset = build_loader(mini.train_dataloader).dataset
    assert type(dataset).__name__ == 'MinimizedFlyingThings3D'
    assert len(dataset) == 2


def test_kitti_config(tmp_path):
    root = str(tmp_path / 'kitti')
    make_kitti(root, ['000002', '000003'], num_points=64)
    cfg = load('kitti')
    cfg.test_dataloader.dataset.data_root = root
    cfg.test_dataloader.dataset.scenes = ['000002', '000003']
    batch = first_batch(cfg.test_dataloader)
    sample = batch['data_samples'][0]
    assert sample['dataset'] == 'KITTI' and sample['sample_name'] == '000002'
    assert np.array(sample['camera']['P_rect_02']).shape == (3, 4)
    assert batch['inputs']['pc1'].shape == (1, 8192, 3)


def test_ft3d_kitti_test_config_reports_both(tmp_path):
    ft3d_root, kitti_root = str(tmp_path / 'ft3d'), str(tmp_path / 'kitti')
    make_ft3d(ft3d_root, dict(train=1, val=2), num_points=64)
    make_kitti(kitti_root, ['000002', '000003', '000004'], num_points=64)
    cfg = load('ft3d_kitti_test')
    ft3d_cfg, kitti_cfg = cfg.test_dataloader.dataset.datasets
    ft3d_cfg.data_root = ft3d_root
    kitti_cfg.data_root = kitti_root
    kitti_cfg.scenes = ['000002', '000003', '000004']
    loader = build_loader(cfg.test_dataloader)
    assert len(loader.dataset) == 5
    with DefaultScope.overwrite_default_scope('bpfn'):
        evaluator = Evaluator(dict(cfg.test_evaluator))
    norms = dict(FT3D=[], KITTI=[])
    for batch in loader:
        outputs = zero_flow_outputs(batch)
        for out in outputs:
            norms[out['dataset']].append(
                out['gt_flow'].norm(dim=1).mean().item())
        evaluator.process(outputs, batch)
    results = evaluator.evaluate(len(loader.dataset))
    for name in ('FT3D', 'KITTI'):
        assert results[f'{name}/EPE3D'] == pytest.approx(
            np.mean(norms[name]), rel=1e-5)
    assert results['EPE3D'] == results['FT3D/EPE3D']
    assert cfg.val_dataloader.dataset.type == 'FlyingThings3D'
