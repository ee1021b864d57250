"""Writers of tiny raw dataset files (PFM, FLO, PNG) for converter tests.

The PNG writer is a plain zlib encoder, independent of OpenCV, so the tests
also check the channel order and bit depth of the reader.
"""
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
