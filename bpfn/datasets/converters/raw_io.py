"""Readers of the raw dataset formats and atomic writers.

The decoding is left to the field's libraries, with checks around them so
that every error names the file:

* PFM (FlyingThings3D disparity, disparity change, full-FT3D flow):
  ``cv2.imread(path, cv2.IMREAD_UNCHANGED)``. OpenCV undoes the PFM's
  bottom-up row order and reads the byte order from the sign of the scale,
  as the PFM format and HPLFlowNet's reader do, but it also divides the
  values by ``|scale|`` where HPLFlowNet's reader keeps them as stored;
  :func:`read_pfm` multiplies that back (the FT3D files have
  ``|scale| = 1``, where both agree) and turns OpenCV's BGR colour order
  back into the file's RGB.
* ``.flo`` (FT3D subset optical flow): ``mmcv.flowread`` (pure Python),
  after a check of the 12-byte header against the file size, since mmcv
  reads a truncated file into a reshape error without the file name.
* 16-bit PNG (KITTI disparity, FT3D occlusion masks):
  ``cv2.imread(path, cv2.IMREAD_UNCHANGED)``, after the bit depth and
  colour type are read from the PNG header, so an 8-bit image where 16 bits
  are expected is refused instead of read as a 256 times smaller value.
* KITTI flow PNG: ``mmcv.sparse_flow_from_bytes`` (OpenCV underneath):
  ``(png - 2**15) / 64`` in float32, the third channel the validity.

Writes go through :func:`bpfn.utils.fileio.atomic_open`: an interrupted run
leaves either the old file or the complete new one.
"""
import json
import os
import os.path as osp
import struct
from typing import Any, Tuple

import cv2
import mmcv
import numpy as np

from bpfn.utils.fileio import atomic_open

_FLO_MAGIC = b'PIEH'  # 202021.25 as a little-endian float32
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: PNG colour types: channels.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _require_file(path: str) -> None:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')


def _pfm_scale(path: str) -> Tuple[int, float]:
    """Channels and scale of a PFM header (checked)."""
    with open(path, 'rb') as f:
        magic = f.readline().strip()
        if magic not in (b'PF', b'Pf'):
            raise ValueError(f'{path}: not a PFM file (header {magic!r}); '
                             "expected 'PF' or 'Pf'")
        dims = f.readline()
        while dims.startswith(b'#'):
            dims = f.readline()
        words = dims.split()
        if len(words) != 2 or not all(w.isdigit() for w in words):
            raise ValueError(f'{path}: malformed PFM size line {dims!r}; '
                             "expected '<width> <height>'")
        scale_line = f.readline()
        try:
            scale = float(scale_line)
        except ValueError as err:
            raise ValueError(f'{path}: malformed PFM scale line '
                             f'{scale_line!r}') from err
        if scale == 0:
            raise ValueError(f'{path}: PFM scale is 0')
        width, height = int(words[0]), int(words[1])
        channels = 3 if magic == b'PF' else 1
        offset = f.tell()
    expected = offset + width * height * channels * 4
    if osp.getsize(path) < expected:
        raise ValueError(
            f'{path}: truncated PFM: {width}x{height}x{channels} float32 '
            f'values need {expected} bytes, the file has '
            f'{osp.getsize(path)}')
    return channels, scale


def read_pfm(path: str) -> np.ndarray:
    """Read a PFM image (FlyingThings3D disparity, disparity change, flow).

    Args:
        path (str): ``.pfm`` file.

    Returns:
        np.ndarray: float32 ``(H, W)`` (``Pf``) or ``(H, W, 3)`` (``PF``,
        channels in file order), first row at the top of the image, values
        as stored (the scale only gives the byte order).
    """
    _require_file(path)
    channels, scale = _pfm_scale(path)
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'{path}: OpenCV cannot decode this PFM file')
    if image.ndim == 3:
        image = image[..., ::-1]  # OpenCV's BGR -> the file's RGB
    if (image.ndim == 3) != (channels == 3):
        raise ValueError(f'{path}: decoded shape {image.shape} does not '
                         f'match a {channels}-channel PFM')
    if abs(scale) != 1.0:
        image = image * np.float32(abs(scale))
    return np.ascontiguousarray(image, dtype=np.float32)


def read_flo(path: str) -> np.ndarray:
    """Read a Middlebury ``.flo`` optical flow file.

    Args:
        path (str): ``.flo`` file.

    Returns:
        np.ndarray: float32 ``(H, W, 2)`` flow ``(du, dv)`` in pixels.
    """
    _require_file(path)
    with open(path, 'rb') as f:
        header = f.read(12)
    if len(header) < 12 or header[:4] != _FLO_MAGIC:
        raise ValueError(f'{path}: not a .flo file (bad magic number); '
                         "expected 'PIEH'")
    width, height = struct.unpack('<ii', header[4:])
    if width <= 0 or height <= 0:
        raise ValueError(f'{path}: bad .flo size {width}x{height}')
    expected = 12 + width * height * 8
    if osp.getsize(path) < expected:
        raise ValueError(f'{path}: truncated .flo file: {width}x{height}x2 '
                         f'float32 values need {expected} bytes, the file '
                         f'has {osp.getsize(path)}')
    return mmcv.flowread(path)


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
    return np.ascontiguousarray(flow[..., :2])


def png_header(path: str) -> Tuple[int, int, int, int]:
    """Size, bit depth and channels from a PNG's IHDR chunk.

    Args:
        path (str): PNG file.

    Returns:
        tuple[int, int, int, int]: ``width``, ``height``, ``bit_depth``,
        ``channels``.
    """
    _require_file(path)
    with open(path, 'rb') as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != \
            b'IHDR':
        raise ValueError(f'{path}: not a PNG file')
    width, height, depth, color = struct.unpack('>IIBB', head[16:26])
    if color not in _PNG_CHANNELS:
        raise ValueError(f'{path}: bad PNG colour type {color}')
    return width, height, depth, _PNG_CHANNELS[color]


def read_png(path: str) -> np.ndarray:
    """Read a PNG without changing its bit depth.

    Args:
        path (str): PNG file.

    Returns:
        np.ndarray: ``(H, W)`` or ``(H, W, C)`` array with the channels in
        file order (R, G, B), uint8 or uint16.
    """
    png_header(path)
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'{path}: cannot be decoded as a PNG image')
    if image.ndim == 3:
        image = np.ascontiguousarray(image[..., ::-1])  # BGR(A) -> RGB(A)
    return image


def read_png16(path: str, channels: int, what: str) -> np.ndarray:
    """Read a 16-bit PNG with the given number of channels.

    Args:
        path (str): PNG file.
        channels (int): Expected channels (1: grey, 3: RGB).
        what (str): What the file is, for messages.

    Returns:
        np.ndarray: uint16 ``(H, W)`` or ``(H, W, 3)`` (RGB order).
    """
    _, _, depth, found = png_header(path)
    if depth != 16 or found != channels:
        raise ValueError(
            f'{path}: a {depth}-bit {found}-channel PNG; expected a 16-bit '
            f'{channels}-channel PNG ({what})')
    return read_png(path)


def read_kitti_flow_png(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit optical flow PNG.

    Args:
        path (str): ``flow_occ/<scene>_10.png`` (R = u, G = v, B = valid).

    Returns:
        tuple[np.ndarray, np.ndarray]: float32 flow ``(H, W, 2)`` in pixels
        (``(png - 2**15) / 64``) and the validity mask ``(H, W)``
        (``B == 1``).
    """
    _, _, depth, found = png_header(path)
    if depth != 16 or found != 3:
        raise ValueError(
            f'{path}: a {depth}-bit {found}-channel PNG; expected a 16-bit '
            '3-channel PNG (KITTI flow: R = u, G = v, B = valid)')
    with open(path, 'rb') as f:
        flow, valid = mmcv.sparse_flow_from_bytes(f.read())
    return flow, valid == 1


def save_npy_atomic(path: str, array: np.ndarray) -> None:
    """Save an array with ``numpy.save`` through a temporary file.

    Args:
        path (str): Destination ``.npy`` path.
        array (np.ndarray): The array.
    """
    with atomic_open(path, 'wb') as f:
        np.save(f, array, allow_pickle=False)


def save_json_atomic(path: str, obj: Any) -> None:
    """Write JSON through a temporary file.

    Args:
        path (str): Destination path.
        obj (Any): JSON-serialisable object.
    """
    with atomic_open(path, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)


def save_pair(folder: str, pc1: np.ndarray, pc2: np.ndarray) -> None:
    """Write ``pc2.npy`` then ``pc1.npy`` atomically.

    A folder counts as a sample once ``pc1.npy`` exists, so an interrupted
    run leaves at most a folder the loaders report as incomplete.

    Args:
        folder (str): Sample folder.
        pc1 (np.ndarray): ``(N, 3)`` first cloud.
        pc2 (np.ndarray): ``(N, 3)`` second cloud.
    """
    save_npy_atomic(osp.join(folder, 'pc2.npy'), pc2)
    save_npy_atomic(osp.join(folder, 'pc1.npy'), pc1)


def remove_pair(folder: str) -> bool:
    """Remove an earlier ``pc1.npy`` / ``pc2.npy`` of a skipped frame (and
    the folder, when nothing else is left in it).

    Returns:
        bool: Whether a file was removed.
    """
    removed = False
    for name in ('pc1.npy', 'pc2.npy'):
        path = osp.join(folder, name)
        if osp.lexists(path):
            os.remove(path)
            removed = True
    if removed and not os.listdir(folder):
        os.rmdir(folder)
    return removed
