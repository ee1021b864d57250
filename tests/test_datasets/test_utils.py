"""Tests of bpfn/datasets/utils.py."""
import numpy as np
import pytest
import torch

from bpfn.datasets.utils import (flow_collate, get_sample_rng, load_cloud,
                                 load_kitti_calibration, read_scene_list,
                                 validate_cloud)
from bpfn.registry import FUNCTIONS


def test_validate_cloud_accepts_float_clouds():
    cloud = np.arange(12, dtype=np.float64).reshape(4, 3)
    out = validate_cloud(cloud, 'pc1')
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, cloud)


@pytest.mark.parametrize('cloud, message', [
    (np.zeros((0, 3), np.float32), r'src\.npy: the point cloud is empty'),
    (np.zeros((5, 4), np.float32),
     r'src\.npy: expected an array of shape \(N, 3\), got shape \(5, 4\)'),
    (np.zeros(6, np.float32),
     r'src\.npy: expected an array of shape \(N, 3\), got shape \(6,\)'),
    (np.zeros(
        (5, 3),
        np.int32), r'src\.npy: expected a float array .* got dtype int32'),
    (np.array([[0, 0, 1], [np.nan, 0, 1]], np.float32),
     r'src\.npy: 1 point\(s\) contain NaN or inf \(first at row 1\)'),
    (np.array([[np.inf, 0, 1]], np.float32), r'src\.npy: .*NaN or inf'),
    ([[0.0, 0.0, 1.0]], r'src\.npy: expected a numpy array .* got list'),
], ids=['empty', 'columns', 'flat', 'int', 'nan', 'inf', 'list'])
def test_validate_cloud_errors(cloud, message):
    with pytest.raises(ValueError, match=message):
        validate_cloud(cloud, 'src.npy')


def test_load_cloud_errors(tmp_path):
    missing = tmp_path / 'pc1.npy'
    with pytest.raises(
            FileNotFoundError, match=f'{missing}: point cloud file not found'):
        load_cloud(str(missing))
    broken = tmp_path / 'broken.npy'
    broken.write_bytes(b'not a numpy file')
    with pytest.raises(ValueError, match=f'{broken}: cannot be read'):
        load_cloud(str(broken))
    bad = tmp_path / 'bad.npy'
    np.save(bad, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=f'{bad}: expected an array of shape'):
        load_cloud(str(bad))


def test_flow_collate_shapes():
    assert FUNCTIONS.get('flow_collate') is flow_collate
    batch = [
        dict(
            inputs=dict(pc1=torch.rand(16, 3), pc2=torch.rand(16, 3)),
            data_samples=dict(gt_flow=torch.rand(16, 3), sample_idx=i))
        for i in range(3)
    ]
    out = flow_collate(batch)
    assert out['inputs']['pc1'].shape == (3, 16, 3)
    assert out['inputs']['pc2'].shape == (3, 16, 3)
    torch.testing.assert_close(out['inputs']['pc2'][1],
                               batch[1]['inputs']['pc2'])
    assert [s['sample_idx'] for s in out['data_samples']] == [0, 1, 2]
    assert out['data_samples'][2] is batch[2]['data_samples']


def test_flow_collate_rejects_ragged_batches():
    batch = [
        dict(
            inputs=dict(pc1=torch.rand(n, 3), pc2=torch.rand(n, 3)),
            data_samples={}) for n in (16, 8)
    ]
    with pytest.raises(ValueError, match="inputs\\['pc1'\\] have different"):
        flow_collate(batch)


def test_sample_rng_modes():
    a = get_sample_rng(dict(sample_idx=5), True, seed=1).random(4)
    b = get_sample_rng(dict(sample_idx=5), True, seed=1).random(4)
    c = get_sample_rng(dict(sample_idx=6), True, seed=1).random(4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    torch.manual_seed(3)
    d = get_sample_rng({}, False).random(4)
    e = get_sample_rng({}, False).random(4)
    torch.manual_seed(3)
    f = get_sample_rng({}, False).random(4)
    np.testing.assert_array_equal(d, f)
    assert not np.allclose(d, e)


def test_package_data():
    scenes = read_scene_list()
    assert len(scenes) == 142 and len(set(scenes)) == 142
    calib = load_kitti_calibration()
    assert len(calib) == 200 and set(scenes) <= set(calib)
    p = np.array(calib['000000'])
    assert p.shape == (3, 4)
    assert p[0, 0] == pytest.approx(721.5377) and p[2, 2] == 1.0


def test_flow_collate_mixes_labelled_and_unlabelled_samples():
    pc = torch.zeros(8, 3)
    labelled = dict(inputs=dict(pc1=pc, pc2=pc),
                    data_samples=dict(gt_flow=pc, sample_idx=0))
    unlabelled = dict(inputs=dict(pc1=pc + 1, pc2=pc),
                      data_samples=dict(sample_idx=1))
    batch = flow_collate([labelled, unlabelled])
    assert batch['inputs']['pc1'].shape == (2, 8, 3)
    assert [('gt_flow' in ds) for ds in batch['data_samples']] == [True,
                                                                   False]
