"""Writers of tiny raw dataset files (PFM, FLO, PNG) for converter tests.

The PNG writer is a plain zlib encoder, independent of OpenCV, so the tests
also check the channel order and bit depth of the reader.
"""
import os
import struct
import zlib

import numpy as np


def write_pfm(path, image, big_endian=False):
    image = np.asarray(image, dtype=np.float32)
    color = image.ndim == 3
    height, width = image.shape[:2]
    scale = 1.0 if big_endian else -1.0
    data = np.flipud(image).astype('>f4' if big_endian else '<f4')
    with open(path, 'wb') as f:
        f.write(b'PF\n' if color else b'Pf\n')
        f.write(f'{width} {height}\n'.encode())
        f.write(f'{scale}\n'.encode())
        f.write(data.tobytes())


def write_flo(path, flow):
    flow = np.asarray(flow, dtype='<f4')
    height, width = flow.shape[:2]
    with open(path, 'wb') as f:
        f.write(np.array([202021.25], '<f4').tobytes())
        f.write(np.array([width, height], '<i4').tobytes())
        f.write(flow.tobytes())


def write_png(path, image):
    """Write a grey (H, W) or RGB (H, W, 3) uint8/uint16 PNG."""
    image = np.asarray(image)
    bit_depth = 16 if image.dtype == np.uint16 else 8
    color_type = 2 if image.ndim == 3 else 0
    height, width = image.shape[:2]
    raw = image.astype('>u2' if bit_depth == 16 else 'u1')
    rows = b''.join(b'\x00' + raw[r].tobytes() for r in range(height))

    def chunk(kind, data):
        body = kind + data
        return (struct.pack('>I', len(data)) + body +
                struct.pack('>I',
                            zlib.crc32(body) & 0xffffffff))

    header = struct.pack('>IIBBBBB', width, height, bit_depth, color_type, 0,
                         0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
                chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


#: Sub-folders of one split of the raw FT3D subset.
FT3D_DIRS = dict(
    disparity='disparity/left',
    disparity_change='disparity_change/left/into_future',
    flow='flow/left/into_future',
    disparity_occlusions='disparity_occlusions/left',
    flow_occlusions='flow_occlusions/left/into_future')


def write_ft3d_frame(root, split, name, disparity, change, flow, occ_disp,
                     occ_flow, flow_ext='.flo'):
    """Write one raw frame as the FT3D subset stores it.

    Disparity and disparity change are little-endian ``Pf`` PFMs (scale -1,
    rows bottom-up) holding the subset's values as given (negative
    disparities), the flow a ``.flo`` (or a 3-channel PFM with
    ``flow_ext='.pfm'``, as the full FT3D), the occlusions 8-bit grey PNGs
    of 0 (visible) and 255 (occluded) from the boolean masks.
    """
    base = f'{root}/{split}'
    for d in FT3D_DIRS.values():
        os.makedirs(f'{base}/{d}', exist_ok=True)
    write_pfm(f'{base}/{FT3D_DIRS["disparity"]}/{name}.pfm', disparity)
    write_pfm(f'{base}/{FT3D_DIRS["disparity_change"]}/{name}.pfm', change)
    if flow_ext == '.flo':
        write_flo(f'{base}/{FT3D_DIRS["flow"]}/{name}.flo', flow)
    else:
        flow3 = np.concatenate(
            [flow, np.zeros(flow.shape[:2] + (1, ), np.float32)], axis=-1)
        write_pfm(f'{base}/{FT3D_DIRS["flow"]}/{name}.pfm', flow3)
    write_png(f'{base}/{FT3D_DIRS["disparity_occlusions"]}/{name}.png',
              np.where(occ_disp, 255, 0).astype(np.uint8))
    write_png(f'{base}/{FT3D_DIRS["flow_occlusions"]}/{name}.png',
              np.where(occ_flow, 255, 0).astype(np.uint8))
