"""Convert raw KITTI scene flow 2015 to point cloud pairs."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils import load_kitti_calibration
from .raw_io import read_png, save_npy_atomic

#: Stereo baseline of the KITTI cameras (m).
KITTI_BASELINE = 0.54


def read_p_rect_02(calib_path: str) -> np.ndarray:
    """Read ``P_rect_02`` from a KITTI ``calib_cam_to_cam`` file.

    Args:
        calib_path (str): Calibration text file.

    Returns:
        np.ndarray: float32 ``(3, 4)`` matrix.
    """
    with open(calib_path) as f:
        lines = [line for line in f if line.startswith('P_rect_02')]
    if len(lines) != 1:
        raise ValueError(f'{calib_path}: expected one P_rect_02 line, found '
                         f'{len(lines)}')
    values = lines[0].split(':', 1)[1].split()
    return np.array([float(v) for v in values], dtype=np.float32).reshape(3, 4)


def load_disparity(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit disparity PNG.

    Args:
        path (str): ``disp_occ_*/<scene>_10.png``.

    Returns:
        tuple[np.ndarray, np.ndarray]: Disparity ``(H, W)`` (``png / 256``)
        and its validity mask (``png > 0``).
    """
    png = read_png(path)
    if png.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel disparity PNG')
    valid = png > 0
    return png.astype(np.float32) / 256.0, valid


def load_optical_flow(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit optical flow PNG.

    Args:
        path (str): ``flow_occ/<scene>_10.png`` (R = u, G = v, B = valid).

    Returns:
        tuple[np.ndarray, np.ndarray]: Flow ``(H, W, 2)`` in pixels
        (``(png - 2**15) / 64``) and its validity mask.
    """
    png = read_png(path)
    if png.ndim != 3 or png.shape[-1] < 3:
        raise ValueError(f'{path}: expected a 3-channel flow PNG')
    flow = (png[..., :2].astype(np.float32) - 2**15) / 64.0
    return flow, png[..., 2] == 1


def kitti_pixels_to_points(depth: np.ndarray,
                           p_rect: np.ndarray,
                           u: Optional[np.ndarray] = None,
                           v: Optional[np.ndarray] = None) -> np.ndarray:
    """Back-project pixels with ``P_rect_02`` to the processed layout.

    Inverts ``u = (f X + cx Z + P03) / (Z + P23)`` (and the same for v),
    then negates x and y: the stored points are ``(-X, -Y, Z)``, y up.

    Args:
        depth (np.ndarray): ``(H, W)`` depth Z (m).
        p_rect (np.ndarray): ``(3, 4)`` projection matrix.
        u (np.ndarray, optional): ``(H, W)`` columns (defaults to the grid).
        v (np.ndarray, optional): ``(H, W)`` rows (defaults to the grid).

    Returns:
        np.ndarray: float32 ``(H, W, 3)`` points.
    """
    height, width = depth.shape
    if u is None:
        u = np.tile(np.arange(width, dtype=np.float32)[None, :], (height, 1))
    if v is None:
        v = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    f = p_rect[0, 0]
    x = (u * (depth + p_rect[2, 3]) - (p_rect[0, 2] * depth + p_rect[0, 3])) \
        / f
    y = (v * (depth + p_rect[2, 3]) - (p_rect[1, 2] * depth + p_rect[1, 3])) \
        / f
    return np.stack([-x, -y, depth], axis=-1).astype(np.float32)


def convert_kitti_scene(disp1_path: str, disp2_path: str, flow_path: str,
                        p_rect: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Build the corresponding clouds of one KITTI scene.

    ``depth = f * 0.54 / (disparity + 1e-5)``; ``pc2`` uses the second
    disparity at the same pixel and the pixel moved by the optical flow.
    Pixels valid in both disparities and the flow are kept.

    Args:
        disp1_path (str): ``disp_occ_0`` PNG.
        disp2_path (str): ``disp_occ_1`` PNG.
        flow_path (str): ``flow_occ`` PNG.
        p_rect (np.ndarray): ``(3, 4)`` ``P_rect_02``.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``pc1`` and ``pc2``, float32
        ``(N, 3)``.
    """
    p_rect = np.asarray(p_rect, dtype=np.float32)
    focal = p_rect[0, 0]
    disp1, valid1 = load_disparity(disp1_path)
    disp2, valid2 = load_disparity(disp2_path)
    flow, valid_flow = load_optical_flow(flow_path)
    if not disp1.shape == disp2.shape == flow.shape[:2]:
        raise ValueError(f'{disp1_path}, {disp2_path}, {flow_path}: image '
                         'sizes differ')
    depth1 = focal * KITTI_BASELINE / (disp1 + 1e-5)
    depth2 = focal * KITTI_BASELINE / (disp2 + 1e-5)
    height, width = disp1.shape
    grid_u = np.tile(np.arange(width, dtype=np.float32)[None, :], (height, 1))
    grid_v = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    pc1 = kitti_pixels_to_points(depth1, p_rect)
    pc2 = kitti_pixels_to_points(depth2, p_rect, grid_u + flow[..., 0],
                                 grid_v + flow[..., 1])
    valid = valid1 & valid2 & valid_flow
    return pc1[valid], pc2[valid]


def _training_root(raw_root: str) -> str:
    for root in (osp.join(raw_root, 'training'), raw_root):
        if osp.isdir(osp.join(root, 'disp_occ_0')):
            return root
    raise FileNotFoundError(
        f'{raw_root}: no disp_occ_0 folder found; expected <RAW>/training/'
        '{disp_occ_0,disp_occ_1,flow_occ,calib_cam_to_cam}')


def convert_kitti(raw_root: str,
                  out_root: str,
                  scenes: Optional[Sequence[str]] = None) -> List[str]:
    """Convert raw KITTI scene flow 2015 to ``<out>/<scene>/pc{1,2}.npy``.

    The projection matrix of each scene is read from
    ``calib_cam_to_cam/<scene>.txt`` when present, else from the table
    shipped with bpfn.

    Args:
        raw_root (str): Folder holding ``training/`` (or ``training``
            itself).
        out_root (str): Output folder.
        scenes (Sequence[str], optional): Scenes to convert. Defaults to
            every ``<scene>_10.png`` in ``disp_occ_0``.

    Returns:
        list[str]: The converted scene names.
    """
    root = _training_root(raw_root)
    if scenes is None:
        scenes = sorted(f[:-len('_10.png')]
                        for f in os.listdir(osp.join(root, 'disp_occ_0'))
                        if f.endswith('_10.png'))
    table: Optional[Dict[str, list]] = None
    for scene in scenes:
        calib_path = osp.join(root, 'calib_cam_to_cam', scene + '.txt')
        if osp.isfile(calib_path):
            p_rect = read_p_rect_02(calib_path)
        else:
            if table is None:
                table = load_kitti_calibration()
            if scene not in table:
                raise ValueError(
                    f'KITTI scene {scene!r}: no {calib_path} and no entry '
                    'in the calibration table shipped with bpfn')
            p_rect = np.array(table[scene], dtype=np.float32)
        name = scene + '_10.png'
        pc1, pc2 = convert_kitti_scene(
            osp.join(root, 'disp_occ_0', name),
            osp.join(root, 'disp_occ_1', name),
            osp.join(root, 'flow_occ', name), p_rect)
        folder = osp.join(out_root, scene)
        save_npy_atomic(osp.join(folder, 'pc1.npy'), pc1)
        save_npy_atomic(osp.join(folder, 'pc2.npy'), pc2)
    return list(scenes)
