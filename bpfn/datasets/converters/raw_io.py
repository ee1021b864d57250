"""Readers of the raw dataset formats and atomic writers."""
import json
import os
import os.path as osp
import re
import tempfile
from typing import Any

import cv2
import numpy as np

_FLO_MAGIC = 202021.25


def read_pfm(path: str) -> np.ndarray:
    """Read a PFM image (FlyingThings3D disparity, disparity change, flow).

    Args:
        path (str): ``.pfm`` file.

    Returns:
        np.ndarray: float32 ``(H, W)`` (``Pf``) or ``(H, W, 3)`` (``PF``),
        first row at the top of the image.
    """
    with open(path, 'rb') as f:
        header = f.readline().strip()
        if header == b'PF':
            channels = 3
        elif header == b'Pf':
            channels = 1
        else:
            raise ValueError(f'{path}: not a PFM file (header {header!r}); '
                             "expected 'PF' or 'Pf'")
        dims = f.readline()
        while dims.startswith(b'#'):
            dims = f.readline()
        match = re.match(rb'^\s*(\d+)\s+(\d+)\s*$', dims)
        if not match:
            raise ValueError(f'{path}: malformed PFM size line {dims!r}')
        width, height = int(match.group(1)), int(match.group(2))
        scale = float(f.readline().strip())
        endian = '<' if scale < 0 else '>'
        data = np.fromfile(f, dtype=endian + 'f4')
    expected = width * height * channels
    if data.size != expected:
        raise ValueError(f'{path}: expected {expected} values for a '
                         f'{width}x{height}x{channels} PFM, got {data.size}')
    shape = (height, width, 3) if channels == 3 else (height, width)
    # PFM stores rows bottom to top.
    return np.ascontiguousarray(
        np.flipud(data.reshape(shape)).astype(np.float32))


def read_flo(path: str) -> np.ndarray:
    """Read a Middlebury ``.flo`` optical flow file.

    Args:
        path (str): ``.flo`` file.

    Returns:
        np.ndarray: float32 ``(H, W, 2)`` flow ``(du, dv)`` in pixels.
    """
    with open(path, 'rb') as f:
        magic = np.fromfile(f, '<f4', count=1)
        if magic.size != 1 or magic[0] != _FLO_MAGIC:
            raise ValueError(f'{path}: not a .flo file (bad magic number)')
        width, height = np.fromfile(f, '<i4', count=2)
        data = np.fromfile(f, '<f4', count=int(width) * int(height) * 2)
    if data.size != int(width) * int(height) * 2:
        raise ValueError(f'{path}: truncated .flo file')
    return data.reshape(int(height), int(width), 2).astype(np.float32)


def read_flow(path: str) -> np.ndarray:
    """Read an optical flow stored as ``.flo`` or ``.pfm``.

    Args:
        path (str): Flow file.

    Returns:
        np.ndarray: float32 ``(H, W, 2)``.
    """
    if path.endswith('.flo'):
        return read_flo(path)
    flow = read_pfm(path)
    if flow.ndim != 3:
        raise ValueError(f'{path}: expected a 3-channel PFM flow')
    return flow[..., :2]


def read_png(path: str) -> np.ndarray:
    """Read a PNG without changing its bit depth.

    Args:
        path (str): PNG file.

    Returns:
        np.ndarray: ``(H, W)`` or ``(H, W, C)`` array with the channels in
        file order (R, G, B), uint8 or uint16.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'{path}: cannot be decoded as a PNG image')
    if image.ndim == 3:
        image = np.ascontiguousarray(image[..., ::-1])  # BGR(A) -> RGB(A)
    return image


def _atomic_write(path: str, write_fn, mode: str = 'wb') -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.' + osp.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, mode) as f:
            write_fn(f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def save_npy_atomic(path: str, array: np.ndarray) -> None:
    """Save an array with ``numpy.save`` through a temporary file.

    Args:
        path (str): Destination ``.npy`` path.
        array (np.ndarray): The array.
    """
    _atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def save_json_atomic(path: str, obj: Any) -> None:
    """Write JSON through a temporary file.

    Args:
        path (str): Destination path.
        obj (Any): JSON-serialisable object.
    """
    _atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True),
                  'w')
