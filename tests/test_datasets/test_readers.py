"""Tests of bpfn/datasets/readers.py: the formats read as written."""
import numpy as np
import pytest

from bpfn.datasets.readers import (POINT_READERS, load_cloud, load_points,
                                   read_npy_header)


def points(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([-5, -1, 1], [5, 1, 30], (n, 3))


def test_npy_with_extra_columns_and_float64(tmp_path):
    cloud = np.concatenate([points(), np.ones((6, 2))], axis=1)  # float64
    np.save(tmp_path / 'a.npy', cloud)
    out = load_points(str(tmp_path / 'a.npy'))
    assert out.dtype == np.float32 and out.shape == (6, 3)
    np.testing.assert_array_equal(out, cloud[:, :3].astype(np.float32))
    shape, dtype, offset = read_npy_header(str(tmp_path / 'a.npy'))
    assert shape == (6, 5) and dtype == np.float64 and offset % 64 == 0
    np.save(tmp_path / 'b.npy', cloud[:, :3])
    np.testing.assert_array_equal(load_cloud(str(tmp_path / 'b.npy')),
                                  cloud[:, :3].astype(np.float32))


def test_big_endian_double_ply_with_other_elements(tmp_path):
    pytest.importorskip('plyfile', reason='plyfile reads .ply files')
    xyz = points()
    header = ('ply\nformat binary_big_endian 1.0\ncomment made by a test\n'
              'element vertex 6\nproperty uchar label\nproperty double x\n'
              'property double y\nproperty double z\nelement face 1\n'
              'property list uchar int vertex_indices\nend_header\n')
    rec = np.zeros(6, dtype=[('label', 'u1'), ('x', '>f8'), ('y', '>f8'),
                             ('z', '>f8')])
    rec['x'], rec['y'], rec['z'] = xyz.T
    face = b'\x03' + np.array([0, 1, 2], '>i4').tobytes()
    (tmp_path / 'a.ply').write_bytes(header.encode() + rec.tobytes() + face)
    np.testing.assert_array_equal(
        load_points(str(tmp_path / 'a.ply')), xyz.astype(np.float32))


def test_pcd_with_counts_and_mixed_types(tmp_path):
    xyz = points().astype(np.float32)
    header = ('# .PCD v0.7\nVERSION 0.7\nFIELDS rgb x y z normal\n'
              'SIZE 1 4 4 4 4\nTYPE U F F F F\nCOUNT 3 1 1 1 2\nWIDTH 6\n'
              'HEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 6\n')
    rec = np.zeros(6, dtype=[('rgb', 'u1', (3, )), ('x', '<f4'),
                             ('y', '<f4'), ('z', '<f4'),
                             ('normal', '<f4', (2, ))])
    rec['x'], rec['y'], rec['z'] = xyz.T
    rec['rgb'] = 200
    (tmp_path / 'b.pcd').write_bytes((header + 'DATA binary\n').encode() +
                                     rec.tobytes())
    np.testing.assert_array_equal(load_points(str(tmp_path / 'b.pcd')), xyz)
    rows = '\n'.join(
        f'7 8 9 {x!r} {y!r} {z!r} 0.5 0.5' for x, y, z in xyz.tolist())
    (tmp_path / 'a.pcd').write_text(header + 'DATA ascii\n' + rows + '\n')
    np.testing.assert_allclose(
        load_points(str(tmp_path / 'a.pcd')), xyz, rtol=1e-7)


def test_every_extension_has_a_reader():
    assert sorted(POINT_READERS) == ['.bin', '.npy', '.pcd', '.ply']


def test_integer_pcd_coordinates_become_float(tmp_path):
    header = ('FIELDS x y z\nSIZE 2 2 2\nTYPE I I I\nCOUNT 1 1 1\nPOINTS 2\n'
              'DATA binary\n')
    xyz = np.array([[1, -2, 30], [4, 5, 6]], '<i2')
    (tmp_path / 'i.pcd').write_bytes(header.encode() + xyz.tobytes())
    out = load_points(str(tmp_path / 'i.pcd'))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, xyz)
