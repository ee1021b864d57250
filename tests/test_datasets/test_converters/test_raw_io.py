"""Tests of bpfn/datasets/converters/raw_io.py."""
import json
import os

import numpy as np
import pytest

from bpfn.datasets.converters import (read_flo, read_flow, read_pfm, read_png,
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


def test_flo_round_trip_and_errors(tmp_path):
    flow = np.random.default_rng(0).normal(size=(3, 5, 2)).astype(np.float32)
    write_flo(tmp_path / 'f.flo', flow)
    np.testing.assert_array_equal(read_flo(str(tmp_path / 'f.flo')), flow)
    np.testing.assert_array_equal(read_flow(str(tmp_path / 'f.flo')), flow)
    (tmp_path / 'bad.flo').write_bytes(b'\x00' * 16)
    with pytest.raises(ValueError, match='bad.flo: not a .flo file'):
        read_flo(str(tmp_path / 'bad.flo'))
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
