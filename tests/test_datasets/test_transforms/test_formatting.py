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


def test_sample_without_flow_has_no_gt_flow():
    pc = np.zeros((4, 3), np.float32)
    out = PackFlowInputs()(
        dict(pc1=pc, pc2=pc, sample_idx=1, sample_name='drive/0001',
             dataset='UnlabeledScans', camera='ft3d', frame_interval=0.1))
    assert 'gt_flow' not in out['data_samples']
    assert set(out['data_samples']) == {
        'sample_idx', 'sample_name', 'dataset', 'camera'
    }


def test_threeway_labels_are_packed_together():
    pc = np.zeros((4, 3), np.float32)
    base = dict(pc1=pc, pc2=pc, flow=pc, sample_idx=0, sample_name='s0',
                dataset='Synthetic', camera='ft3d',
                pc1_label=np.array([-1, 0, 0, 2], np.int32), ego_flow=pc + 1,
                frame_interval=0.1)
    ds = PackFlowInputs()(dict(base))['data_samples']
    assert ds['pc1_label'].dtype == torch.int64
    assert ds['pc1_label'].tolist() == [-1, 0, 0, 2]
    assert ds['ego_flow'].dtype == torch.float32
    assert ds['frame_interval'] == 0.1
    partial = {k: v for k, v in base.items() if k != 'ego_flow'}
    with pytest.raises(KeyError, match=r"s0 has \['pc1_label', "
                       r"'frame_interval'\] but no \['ego_flow'\]"):
        PackFlowInputs()(partial)
    with pytest.raises(ValueError, match='must have one row per pc1 row'):
        PackFlowInputs()(dict(base, pc1_label=np.zeros(3, np.int32)))
