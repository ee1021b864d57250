"""Tests of bpfn/datasets/converters/raw_io.py."""
import json
import os
import re

import numpy as np
import pytest

import cv2

from bpfn.datasets.converters import (read_flo, read_flow, read_kitti_flow_png,
                                      read_pfm, read_png, read_png16,
                                      save_json_atomic, save_npy_atomic)
from .raw_writers import write_flo, write_pfm, write_png


@pytest.mark.parametrize('big_endian', [False, True])
def test_pfm_round_trip(tmp_path, big_endian):
    grey = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    write_pfm(tmp_path / 'g.pfm', grey, big_endian)
    np.testing.assert_array_equal(read_pfm(str(tmp_path / 'g.pfm')), grey)
    color = np.arange(36, dtype=np.float32).reshape(3, 4, 3)
    write_pfm(tmp_path / 'c.pfm', color, big_endian)
    np.testing.assert_array_equal(read_pfm(str(tmp_path / 'c.pfm')), color)
    np.testing.assert_array_equal(
        read_flow(str(tmp_path / 'c.pfm')), color[..., :2])


def test_pfm_as_the_subset_stores_it(tmp_path):
    # Negative disparities, little-endian (scale -1), rows bottom-up.
    disp = -np.arange(1, 13, dtype=np.float32).reshape(3, 4) * 1.25
    path = tmp_path / 'd.pfm'
    path.write_bytes(b'Pf\n4 3\n-1.0\n' +
                     np.flipud(disp).astype('<f4').tobytes())
    out = read_pfm(str(path))
    np.testing.assert_array_equal(out, disp)
    assert out[0, 0] == -1.25 and out.dtype == np.float32
    # A scale magnitude other than 1: OpenCV divides by it, HPLFlowNet's
    # reader (and ours) keeps the stored values.
    path.write_bytes(b'Pf\n4 3\n-2.5\n' +
                     np.flipud(disp).astype('<f4').tobytes())
    np.testing.assert_allclose(
        cv2.imread(str(path), cv2.IMREAD_UNCHANGED), disp / 2.5, rtol=1e-6)
    np.testing.assert_allclose(read_pfm(str(path)), disp, rtol=1e-6)


def test_pfm_errors_name_the_file(tmp_path):
    path = tmp_path / 'short.pfm'
    path.write_bytes(b'Pf\n4 3\n-1.0\n' + b'\0' * 20)
    with pytest.raises(ValueError, match=re.escape(
            f'{path}: truncated PFM: 4x3x1 float32 values need 60 bytes, the '
            'file has 32')):
        read_pfm(str(path))
    path.write_bytes(b'Pf\n4 x\n-1.0\n')
    with pytest.raises(ValueError,
                       match=re.escape(f"{path}: malformed PFM size line")):
        read_pfm(str(path))
    with pytest.raises(FileNotFoundError, match='none.pfm: file not found'):
        read_pfm(str(tmp_path / 'none.pfm'))


def test_flo_round_trip_and_errors(tmp_path):
    flow = np.random.default_rng(0).normal(size=(3, 5, 2)).astype(np.float32)
    write_flo(tmp_path / 'f.flo', flow)
    np.testing.assert_array_equal(read_flo(str(tmp_path / 'f.flo')), flow)
    np.testing.assert_array_equal(read_flow(str(tmp_path / 'f.flo')), flow)
    (tmp_path / 'bad.flo').write_bytes(b'\x00' * 16)
    with pytest.raises(ValueError, match='bad.flo: not a .flo file'):
        read_flo(str(tmp_path / 'bad.flo'))
    short = tmp_path / 'short.flo'
    short.write_bytes((tmp_path / 'f.flo').read_bytes()[:50])
    with pytest.raises(ValueError, match=re.escape(
            f'{short}: truncated .flo file: 5x3x2 float32 values need 132 '
            'bytes, the file has 50')):
        read_flo(str(short))
    (tmp_path / 'bad.pfm').write_bytes(b'P6\n')
    with pytest.raises(ValueError, match='bad.pfm: not a PFM file'):
        read_pfm(str(tmp_path / 'bad.pfm'))


def test_png_keeps_bit_depth_and_rgb_order(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint16)
    rgb[..., 0] = 40000  # R
    rgb[..., 1] = 1234  # G
    rgb[..., 2] = 1  # B
    write_png(tmp_path / 'rgb.png', rgb)
    out = read_png(str(tmp_path / 'rgb.png'))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, rgb)
    grey = np.array([[0, 255], [7, 9]], np.uint8)
    write_png(tmp_path / 'g.png', grey)
    np.testing.assert_array_equal(read_png(str(tmp_path / 'g.png')), grey)
    with pytest.raises(FileNotFoundError, match='none.png: file not found'):
        read_png(str(tmp_path / 'none.png'))


def test_16_bit_readers(tmp_path):
    flow = np.zeros((2, 3, 3), np.uint16)
    flow[..., 0] = 2**15 + 96  # u = 1.5 px
    flow[..., 1] = 2**15 - 32  # v = -0.5 px
    flow[0, 1, 2] = 1
    write_png(tmp_path / 'flow.png', flow)
    uv, valid = read_kitti_flow_png(str(tmp_path / 'flow.png'))
    assert uv.dtype == np.float32 and uv.shape == (2, 3, 2)
    np.testing.assert_array_equal(uv[..., 0], 1.5)
    np.testing.assert_array_equal(uv[..., 1], -0.5)
    np.testing.assert_array_equal(valid, flow[..., 2] == 1)
    write_png(tmp_path / 'disp8.png', np.ones((2, 3), np.uint8))
    with pytest.raises(ValueError, match=re.escape(
            f'{tmp_path / "disp8.png"}: a 8-bit 1-channel PNG; expected a '
            '16-bit 1-channel PNG (KITTI disparity)')):
        read_png16(str(tmp_path / 'disp8.png'), 1, 'KITTI disparity')
    (tmp_path / 'fake.png').write_bytes(b'not a png at all, longer than 26')
    with pytest.raises(ValueError, match='fake.png: not a PNG file'):
        read_png(str(tmp_path / 'fake.png'))


def test_atomic_writers(tmp_path):
    save_npy_atomic(str(tmp_path / 'a' / 'x.npy'), np.ones((2, 3)))
    np.testing.assert_array_equal(
        np.load(tmp_path / 'a' / 'x.npy'), np.ones((2, 3)))
    save_json_atomic(str(tmp_path / 'm.json'), dict(k=[1, 2]))
    assert json.loads((tmp_path / 'm.json').read_text()) == dict(k=[1, 2])
    assert sorted(os.listdir(tmp_path / 'a')) == ['x.npy']
    # A failing write leaves neither a partial file nor a temporary one.
    with pytest.raises(ValueError):
        save_npy_atomic(
            str(tmp_path / 'a' / 'y.npy'), np.array([object()], dtype=object))
    assert sorted(os.listdir(tmp_path / 'a')) == ['x.npy']
