"""Tests of bpfn/datasets/transforms/loading.py."""
import numpy as np
import pytest

from bpfn.datasets.transforms import LoadSceneFlowNpy
from bpfn.registry import TRANSFORMS


def write(tmp_path, pc1, pc2):
    np.save(tmp_path / 'pc1.npy', pc1)
    np.save(tmp_path / 'pc2.npy', pc2)
    return dict(
        pc1_path=str(tmp_path / 'pc1.npy'), pc2_path=str(tmp_path / 'pc2.npy'))


def test_load_and_flip(tmp_path):
    pc1 = np.array([[1, 2, -10], [3, 4, -20]], np.float64)
    pc2 = pc1 + [[0.5, 0.0, -1.0], [0.0, 1.0, 0.0]]
    results = write(tmp_path, pc1, pc2)
    out = TRANSFORMS.build(dict(type='LoadSceneFlowNpy'))(
        dict(results, flip_axes=(0, 2)))
    np.testing.assert_array_equal(out['pc1'], [[-1, 2, 10], [-3, 4, 20]])
    np.testing.assert_array_equal(out['flow'], [[-0.5, 0, 1], [0, 1, 0]])
    assert out['pc1'].dtype == np.float32 and out['corresponding'] is True
    # An explicit flip_axes overrides the sample's.
    out = LoadSceneFlowNpy(flip_axes=())(dict(results, flip_axes=(0, 2)))
    np.testing.assert_array_equal(out['pc1'], pc1)


@pytest.mark.parametrize('bad, message', [
    (np.zeros((0, 3), np.float32), 'the point cloud is empty'),
    (np.zeros((4, 2), np.float32), r'expected an array of shape \(N, 3\)'),
    (np.zeros((4, 3), np.int64), 'expected a float array'),
    (np.full((4, 3), np.nan, np.float32), r'4 point\(s\) contain NaN or inf'),
], ids=['empty', 'columns', 'int', 'nan'])
def test_bad_pc2_names_the_file(tmp_path, bad, message):
    results = write(tmp_path, np.ones((4, 3), np.float32), bad)
    with pytest.raises(ValueError, match=f'pc2.npy: {message}'):
        LoadSceneFlowNpy()(results)


def test_missing_file_and_key(tmp_path):
    results = write(tmp_path, np.ones((4, 3), np.float32),
                    np.ones((4, 3), np.float32))
    (tmp_path / 'pc1.npy').unlink()
    with pytest.raises(
            FileNotFoundError,
            match=f'{tmp_path / "pc1.npy"}: point cloud file not'):
        LoadSceneFlowNpy()(results)
    with pytest.raises(KeyError, match="no 'pc2_path'"):
        LoadSceneFlowNpy()(dict(pc1_path=results['pc1_path']))


def test_explicit_flow_file(tmp_path):
    pc1 = np.array([[1, 2, -10], [3, 4, -20]], np.float32)
    pc2 = np.array([[0, 0, -5], [1, 1, -6], [2, 2, -7]], np.float32)
    flow = np.array([[0.5, 0, -1], [0, 1, 0]], np.float32)
    results = write(tmp_path, pc1, pc2)
    np.save(tmp_path / 'flow.npy', flow)
    out = LoadSceneFlowNpy(flip_axes=(0, 2))(
        dict(results, flow_path=str(tmp_path / 'flow.npy')))
    np.testing.assert_array_equal(out['flow'], [[-0.5, 0, 1], [0, 1, 0]])
    assert out['pc2'].shape == (3, 3) and out['corresponding'] is False
    np.save(tmp_path / 'flow.npy', flow[:1])
    with pytest.raises(ValueError, match=r'flow.npy: expected one flow row'):
        LoadSceneFlowNpy()(dict(results, flow_path=str(tmp_path /
                                                        'flow.npy')))


def test_load_scan_pair_converts_axes(tmp_path):
    from bpfn.datasets.transforms import LoadScanPair
    from bpfn.datasets.transforms.loading import parse_axes
    velo = np.array([[10.0, 2.0, -1.7, 0.5], [5.0, -1.0, 0.3, 0.9]], '<f4')
    velo.tofile(tmp_path / 'a.bin')
    velo[:, 0] += 1.0
    velo.tofile(tmp_path / 'b.bin')
    paths = dict(pc1_path=str(tmp_path / 'a.bin'),
                 pc2_path=str(tmp_path / 'b.bin'))
    out = LoadScanPair(axes='kitti_velodyne')(dict(paths))
    # x forward, y left, z up -> x left, y up, z forward.
    np.testing.assert_array_equal(
        out['pc1'], np.float32([[2.0, -1.7, 10.0], [-1.0, 0.3, 5.0]]))
    np.testing.assert_array_equal(out['pc2'][:, 2], [11.0, 6.0])
    assert out['corresponding'] is False and 'flow' not in out
    # The sample's own entry is used when the transform has none.
    out = LoadScanPair()(dict(paths, axes=('-x', 'z', 'y')))
    np.testing.assert_array_equal(out['pc1'][0],
                                  np.float32([-10.0, -1.7, 2.0]))
    np.testing.assert_array_equal(
        LoadScanPair()(dict(paths))['pc1'], velo[:, :3] - [[1, 0, 0]])
    assert parse_axes(None) is None
    with pytest.raises(ValueError, match="'x', 'x', 'z'.* is not an axis"):
        parse_axes(('x', 'x', 'z'))
    with pytest.raises(ValueError, match="unknown axis preset 'velo'"):
        LoadScanPair(axes='velo')
