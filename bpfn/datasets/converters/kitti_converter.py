"""Convert raw KITTI scene flow 2015 to point cloud pairs.

The processed files equal HPLFlowNet's (``data_preprocess/process_kitti.py``):
the same formulas in float32 and in the same order of operations. With
``P = P_rect_02`` (``f = P[0, 0] = P[1, 1]``), disparities ``d = png / 256``
(valid where ``png > 0``) and the optical flow ``(png - 2**15) / 64``
(valid where the third channel is 1)::

    depth = f * 0.54 / (d + 1e-5)
    X = (u * (depth + P[2, 3]) - (P[0, 2] * depth + P[0, 3])) / f
    Y = (v * (depth + P[2, 3]) - (P[1, 2] * depth + P[1, 3])) / f
    stored point = (-X, -Y, depth)

``pc1`` uses ``disp_occ_0`` at ``(u, v)``; ``pc2`` uses ``disp_occ_1`` at
the same pixel and the pixel moved by the flow. A pixel is kept where both
disparities and the flow are valid. The stored clouds have x to the left,
y up (the road near ``y = -1.65`` m) and z forward; nothing is flipped when
loading, and the ground (``y < -1.4`` in both clouds) is removed at load
time by ``GroundRemoval``, as HPLFlowNet's loader does.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..utils import load_kitti_calibration, normalize_scene_names
from .raw_io import read_kitti_flow_png, read_png16, remove_pair, save_pair
from .summary import ConversionSummary

#: Stereo baseline of the KITTI cameras (m).
KITTI_BASELINE = 0.54


def check_p_rect(p_rect: np.ndarray, source: str) -> np.ndarray:
    """Check that a ``P_rect_02`` has the form the back-projection assumes.

    Args:
        p_rect (np.ndarray): The matrix.
        source (str): Where it comes from, for messages.

    Returns:
        np.ndarray: float32 ``(3, 4)``.
    """
    p_rect = np.asarray(p_rect, dtype=np.float32)
    if p_rect.shape != (3, 4):
        raise ValueError(f'{source}: P_rect_02 has shape {p_rect.shape}; '
                         'expected (3, 4)')
    if (p_rect[0, 1] != 0 or p_rect[1, 0] != 0 or p_rect[2, 0] != 0
            or p_rect[2, 1] != 0 or p_rect[0, 0] != p_rect[1, 1]):
        raise ValueError(
            f'{source}: P_rect_02 {p_rect.tolist()} is not a rectified '
            'projection (expected P[0,0] == P[1,1] and zero skew)')
    return p_rect


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
    try:
        numbers = [float(v) for v in values]
    except ValueError as err:
        raise ValueError(f'{calib_path}: P_rect_02 holds a non-number: '
                         f'{values}') from err
    if len(numbers) != 12:
        raise ValueError(f'{calib_path}: P_rect_02 has {len(numbers)} '
                         'values; expected 12')
    return check_p_rect(np.array(numbers, dtype=np.float32).reshape(3, 4),
                        calib_path)


def load_disparity(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit disparity PNG.

    Args:
        path (str): ``disp_occ_*/<scene>_10.png``.

    Returns:
        tuple[np.ndarray, np.ndarray]: float32 disparity ``(H, W)``
        (``png / 256``) and its validity mask (``png > 0``).
    """
    png = read_png16(path, 1, 'KITTI disparity')
    return png.astype(np.float32) / 256.0, png > 0


def load_optical_flow(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit optical flow PNG.

    Args:
        path (str): ``flow_occ/<scene>_10.png`` (R = u, G = v, B = valid).

    Returns:
        tuple[np.ndarray, np.ndarray]: Flow ``(H, W, 2)`` in pixels
        (``(png - 2**15) / 64``) and its validity mask.
    """
    return read_kitti_flow_png(path)


def kitti_pixels_to_points(depth: np.ndarray,
                           p_rect: np.ndarray,
                           u: Optional[np.ndarray] = None,
                           v: Optional[np.ndarray] = None) -> np.ndarray:
    """Back-project pixels with ``P_rect_02`` to the processed layout.

    Inverts ``u = (f X + cx Z + P03) / (Z + P23)`` (and the same for v),
    then negates x and y: the stored points are ``(-X, -Y, Z)``, y up.

    Args:
        depth (np.ndarray): float32 ``(H, W)`` depth Z (m).
        p_rect (np.ndarray): float32 ``(3, 4)`` projection matrix.
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
    p_rect = check_p_rect(p_rect, disp1_path)
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


def _scene_p_rect(root: str, scene: str,
                  table: Dict[str, list]) -> np.ndarray:
    calib_path = osp.join(root, 'calib_cam_to_cam', scene + '.txt')
    if osp.isfile(calib_path):
        return read_p_rect_02(calib_path)
    if scene not in table:
        raise KeyError(
            f'KITTI scene {scene!r}: no {calib_path} and no entry in the '
            'calibration table shipped with bpfn')
    return check_p_rect(np.array(table[scene], dtype=np.float32),
                        f'KITTI scene {scene!r} (table shipped with bpfn)')


def convert_kitti(raw_root: str,
                  out_root: str,
                  scenes: Optional[Sequence[str]] = None) -> ConversionSummary:
    """Convert raw KITTI scene flow 2015 to ``<out>/<scene>/pc{1,2}.npy``.

    The projection matrix of each scene is read from
    ``calib_cam_to_cam/<scene>.txt`` when present, else from the table
    shipped with bpfn (equal to HPLFlowNet's calibration files). A scene
    that cannot be converted (a missing or unreadable file, no calibration,
    no valid pixel) is skipped with its reason and its earlier output, if
    any, removed.

    Args:
        raw_root (str): Folder holding ``training/`` (or ``training``
            itself).
        out_root (str): Output folder.
        scenes (Sequence[str | int], optional): Scenes to convert
            (integers and short digit strings are zero-padded to six
            digits). Defaults to every ``<scene>_10.png`` in
            ``disp_occ_0``.

    Returns:
        ConversionSummary: Scenes written and skipped (split
        ``'training'``).
    """
    root = _training_root(raw_root)
    if scenes is None:
        scenes = sorted(f[:-len('_10.png')]
                        for f in os.listdir(osp.join(root, 'disp_occ_0'))
                        if f.endswith('_10.png'))
        if not scenes:
            raise FileNotFoundError(
                f'{osp.join(root, "disp_occ_0")}: no <scene>_10.png file')
    scenes = normalize_scene_names(scenes, 'create_data kitti')
    table = load_kitti_calibration()
    summary = ConversionSummary(f'KITTI scene flow 2015 {raw_root} -> '
                                f'{out_root}', ['training'])
    for scene in scenes:
        name = scene + '_10.png'
        folder = osp.join(out_root, scene)
        try:
            p_rect = _scene_p_rect(root, scene, table)
            pc1, pc2 = convert_kitti_scene(
                osp.join(root, 'disp_occ_0', name),
                osp.join(root, 'disp_occ_1', name),
                osp.join(root, 'flow_occ', name), p_rect)
        except FileNotFoundError as err:
            reason, detail = 'a raw file is missing', str(err)
        except KeyError as err:
            reason, detail = 'no calibration', str(err.args[0])
        except (ValueError, OSError) as err:
            reason, detail = 'a raw file cannot be read', str(err)
        else:
            if len(pc1):
                save_pair(folder, pc1, pc2)
                summary.add_written('training', len(pc1))
                continue
            reason, detail = 'no pixel valid in both disparities and the ' \
                'flow', ''
        summary.add_skipped('training', scene, reason, detail)
        if remove_pair(folder):
            summary.removed.append(scene)
    return summary

