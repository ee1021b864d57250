"""Convert the raw FlyingThings3D subset to point cloud pairs."""
import os
import os.path as osp
from multiprocessing import Pool
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .raw_io import read_flow, read_pfm, read_png, save_npy_atomic

#: FlyingThings3D camera: focal length (px), principal point, baseline (m).
FT3D_FOCAL = 1050.0
FT3D_CX = 479.5
FT3D_CY = 269.5
FT3D_BASELINE = 1.0


def ft3d_pixels_to_points(disparity: np.ndarray,
                          u: Optional[np.ndarray] = None,
                          v: Optional[np.ndarray] = None) -> np.ndarray:
    """Back-project pixels to the stored FT3D point layout.

    ``depth = focal * baseline / disparity``; the points are stored as
    ``(-(u - cx) / d, (v - cy) / d, -depth)`` (HPLFlowNet's layout: the
    loader negates x and z, giving ``((u - cx) / d, (v - cy) / d, depth)``
    with depth positive).

    Args:
        disparity (np.ndarray): ``(H, W)`` disparity (px).
        u (np.ndarray, optional): ``(H, W)`` column of each pixel (defaults
            to the pixel grid; pass ``grid + flow`` for the second frame).
        v (np.ndarray, optional): ``(H, W)`` row of each pixel.

    Returns:
        np.ndarray: float32 ``(H, W, 3)`` points.
    """
    height, width = disparity.shape
    if u is None:
        u = np.tile(np.arange(width, dtype=np.float32)[None, :], (height, 1))
    if v is None:
        v = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    with np.errstate(divide='ignore', invalid='ignore'):
        x = -(u - FT3D_CX) / disparity
        y = (v - FT3D_CY) / disparity
        z = -FT3D_FOCAL * FT3D_BASELINE / disparity
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def ft3d_raw_paths(raw_root: str, split: str, name: str) -> Dict[str, str]:
    """Paths of the raw files of one FT3D subset frame.

    Args:
        raw_root (str): Folder with ``train/`` and ``val/``.
        split (str): ``'train'`` or ``'val'``.
        name (str): Frame name, e.g. ``'0000000'``.

    Returns:
        dict[str, str]: ``disparity``, ``disparity_change``, ``flow``,
        ``disparity_occlusions``, ``flow_occlusions``.
    """
    root = osp.join(raw_root, split)
    flow = osp.join(root, 'flow', 'left', 'into_future', name + '.flo')
    if not osp.exists(flow):
        flow = flow[:-4] + '.pfm'
    return dict(
        disparity=osp.join(root, 'disparity', 'left', name + '.pfm'),
        disparity_change=osp.join(root, 'disparity_change', 'left',
                                  'into_future', name + '.pfm'),
        flow=flow,
        disparity_occlusions=osp.join(root, 'disparity_occlusions', 'left',
                                      name + '.png'),
        flow_occlusions=osp.join(root, 'flow_occlusions', 'left',
                                 'into_future', name + '.png'))


def convert_ft3d_frame(paths: Dict[str, str],
                       max_depth: float = 35.0) -> Tuple[np.ndarray, ...]:
    """Build the corresponding clouds of one frame.

    Args:
        paths (dict[str, str]): See :func:`ft3d_raw_paths`.
        max_depth (float): Keep rows nearer than this in both clouds; <= 0
            keeps all. Defaults to 35.0.

    Returns:
        tuple[np.ndarray, np.ndarray]: Stored-layout ``pc1`` and ``pc2``,
        float32 ``(N, 3)``.
    """
    for key, path in paths.items():
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: raw FT3D {key} file not found')
    disp1 = read_pfm(paths['disparity'])
    disp2 = disp1 + read_pfm(paths['disparity_change'])
    flow = read_flow(paths['flow'])
    occ = (read_png(paths['disparity_occlusions']) != 0) | (
        read_png(paths['flow_occlusions']) != 0)
    if occ.ndim == 3:
        occ = occ.any(axis=-1)
    height, width = disp1.shape
    grid_u = np.tile(np.arange(width, dtype=np.float32)[None, :], (height, 1))
    grid_v = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    pc1 = ft3d_pixels_to_points(disp1)
    pc2 = ft3d_pixels_to_points(disp2, grid_u + flow[..., 0],
                                grid_v + flow[..., 1])
    valid = ~occ & (disp1 > 0) & (disp2 > 0)
    pc1, pc2 = pc1[valid], pc2[valid]
    if max_depth > 0:
        near = (pc1[:, 2] > -max_depth) & (pc2[:, 2] > -max_depth)
        pc1, pc2 = pc1[near], pc2[near]
    return pc1, pc2


def _convert_one(args: Tuple[str, str, str, str, float]) -> int:
    raw_root, out_root, split, name, max_depth = args
    pc1, pc2 = convert_ft3d_frame(
        ft3d_raw_paths(raw_root, split, name), max_depth)
    folder = osp.join(out_root, split, name)
    save_npy_atomic(osp.join(folder, 'pc1.npy'), pc1)
    save_npy_atomic(osp.join(folder, 'pc2.npy'), pc2)
    return len(pc1)


def convert_flyingthings3d(raw_root: str,
                           out_root: str,
                           splits: Sequence[str] = ('train', 'val'),
                           max_depth: float = 35.0,
                           workers: int = 0) -> Dict[str, int]:
    """Convert the raw FT3D subset to ``<out>/<split>/<name>/pc{1,2}.npy``.

    Frames are listed from ``<raw>/<split>/disparity_change/left/
    into_future``; a pixel is used when it is neither disparity- nor
    flow-occluded, and (with ``max_depth``) near in both frames.

    Args:
        raw_root (str): Raw FT3D subset folder with ``train/`` and ``val/``.
        out_root (str): Output folder.
        splits (Sequence[str]): Splits to convert. Defaults to both.
        max_depth (float): Depth limit (m), <= 0 for none. Defaults to 35.0.
        workers (int): Worker processes, 0 to convert in this process.
            Defaults to 0.

    Returns:
        dict[str, int]: Number of converted frames per split.
    """
    counts = {}
    for split in splits:
        listing = osp.join(raw_root, split, 'disparity_change', 'left',
                           'into_future')
        if not osp.isdir(listing):
            raise FileNotFoundError(
                f'{listing}: raw FT3D folder not found; expected '
                '<RAW>/{train,val}/{disparity,disparity_change,flow,'
                'disparity_occlusions,flow_occlusions}/...')
        names = sorted(
            osp.splitext(f)[0] for f in os.listdir(listing)
            if f.endswith('.pfm'))
        jobs = [(raw_root, out_root, split, n, float(max_depth))
                for n in names]
        if workers > 0:
            with Pool(workers) as pool:
                pool.map(_convert_one, jobs, chunksize=16)
        else:
            for job in jobs:
                _convert_one(job)
        counts[split] = len(names)
    return counts
