"""Tests of bpfn/datasets/transforms/formatting.py."""
import numpy as np
import pytest
import torch

from bpfn.datasets.transforms import PackFlowInputs

CAMERA = dict(P_rect_02=[[721.5, 0.0, 609.6, 44.9], [0.0, 721.5, 172.9, 0.2],
                         [0.0, 0.0, 1.0, 0.003]])


def test_contract():
    pc = np.arange(24, dtype=np.float64).reshape(8, 3)
    out = PackFlowInputs()(
        dict(
            pc1=pc,
            pc2=pc + 1,
            flow=np.ones((8, 3)),
            sample_idx=np.int64(4),
            sample_name='000004',
            dataset='KITTI',
            camera=CAMERA,
            pc1_path='unused'))
    assert set(out) == {'inputs', 'data_samples'}
    assert set(out['inputs']) == {'pc1', 'pc2'}
    for value in (out['inputs']['pc1'], out['inputs']['pc2'],
                  out['data_samples']['gt_flow']):
        assert value.dtype == torch.float32 and value.shape == (8, 3)
    torch.testing.assert_close(out['inputs']['pc2'],
                               torch.from_numpy(pc + 1).float())
    ds = out['data_samples']
    assert set(ds) == {
        'gt_flow', 'sample_idx', 'sample_name', 'dataset', 'camera'
    }
    assert type(ds['sample_idx']) is int and ds['sample_idx'] == 4
    assert ds['camera'] == CAMERA and ds['dataset'] == 'KITTI'


def test_extra_tensors_and_missing_keys():
    pc = np.zeros((4, 3), np.float32)
    base = dict(
        pc1=pc,
        pc2=pc,
        flow=pc,
        sample_idx=0,
        sample_name='a',
        dataset='FT3D',
        camera='ft3d',
        pc1_raw=pc + 2)
    out = PackFlowInputs(extra_tensor_keys=['pc1_raw'])(dict(base))
    assert out['data_samples']['pc1_raw'].shape == (4, 3)
    del base['camera']
    with pytest.raises(KeyError, match="no 'camera'"):
        PackFlowInputs()(base)
