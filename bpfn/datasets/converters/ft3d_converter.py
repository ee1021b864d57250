"""Convert the raw FlyingThings3D subset to point cloud pairs.

The processed files equal HPLFlowNet's (``data_preprocess/
process_flyingthings3d_subset.py``): the same formula, evaluated in float32
in the same order, on the same pixels. The subset stores disparities as
negative numbers; with its camera (``f = -1050``, ``cx = 479.5``,
``cy = 269.5``, baseline 1) and a pixel ``(u, v)`` of disparity ``d``::

    pc = ((u - cx) * -1 / d, (v - cy) / d, -f * baseline / d)

so the stored z is ``1050 / d < 0``. ``pc2`` uses the pixel moved by the
optical flow, ``(u + du, v + dv)``, and the disparity ``d + disparity
change``. A pixel is kept where both occlusion masks are 0. The ``'35m'``
variant (HPLFlowNet's ``--only_save_near_pts``, the commonly downloaded
``FlyingThings3D_subset_processed_35m``) further keeps the rows with
``z > -35`` in both clouds; ``'full'`` keeps every unoccluded pixel.

:class:`~bpfn.datasets.FlyingThings3D` negates x and z when loading, as
HPLFlowNet's loader does, giving ``(-(u - cx) / |d|, -(v - cy) / |d|,
1050 / |d|)``: z forward, y up, x to the left; the FT3D camera of the 2D
metrics (``f = -1050``) projects these points back onto ``(u, v)``.

Two departures, both only where HPLFlowNet's files would be unusable:
pixels with a zero disparity (non-finite points, which every bpfn loader
refuses) are dropped and counted, and a frame left without points is not
written (HPLFlowNet writes an empty pair). Points with ``z > 0`` (a
positive disparity) are kept, as there, and reported.
"""
import os
import os.path as osp
from multiprocessing import Pool
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .raw_io import read_flow, read_pfm, read_png, remove_pair, save_pair
from .summary import ConversionSummary

#: FlyingThings3D camera as HPLFlowNet writes it: focal length (px, negative
#: sign included), principal point, baseline.
FT3D_FOCAL = -1050.0
FT3D_CX = 479.5
FT3D_CY = 269.5
FT3D_BASELINE = 1.0
#: Near-points limit of each variant (m; None keeps all points).
FT3D_VARIANTS: Dict[str, Optional[float]] = {'35m': 35.0, 'full': None}


def ft3d_pixels_to_points(disparity: np.ndarray,
                          flow: Optional[np.ndarray] = None) -> np.ndarray:
    """Back-project pixels to the stored FT3D point layout (HPLFlowNet's).

    ``(u - cx + du) * -1 / d``, ``(v - cy + dv) / d``,
    ``-f * baseline / d``, in float32 and in HPLFlowNet's order of
    operations, so the results equal theirs bit for bit.

    Args:
        disparity (np.ndarray): float32 ``(H, W)`` disparity as the subset
            stores it (negative).
        flow (np.ndarray, optional): float32 ``(H, W, 2)`` optical flow
            ``(du, dv)`` moving each pixel (the second frame). Defaults to
            no motion.

    Returns:
        np.ndarray: float32 ``(H, W, 3)`` points (inf where ``d == 0``).
    """
    disparity = np.asarray(disparity, dtype=np.float32)
    height, width = disparity.shape
    u = np.tile(np.arange(width, dtype=np.float32)[None, :], (height, 1))
    v = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = -1.0 * FT3D_FOCAL * FT3D_BASELINE / disparity
        if flow is None:
            x = (u - FT3D_CX) * -1.0 / disparity
            y = (v - FT3D_CY) * 1.0 / disparity
        else:
            x = (u - FT3D_CX + flow[..., 0]) * -1.0 / disparity
            y = (v - FT3D_CY + flow[..., 1]) * 1.0 / disparity
    return np.stack([x, y, depth], axis=-1)


def ft3d_raw_paths(raw_root: str, split: str, name: str) -> Dict[str, str]:
    """Paths of the raw files of one FT3D subset frame.

    Args:
        raw_root (str): Folder with ``train/`` and ``val/``.
        split (str): ``'train'`` or ``'val'``.
        name (str): Frame name, e.g. ``'0000000'``.

    Returns:
        dict[str, str]: ``disparity``, ``disparity_change``, ``flow``
        (``.flo``, or a ``.pfm`` of the full FT3D when no ``.flo`` exists),
        ``disparity_occlusions``, ``flow_occlusions``.
    """
    root = osp.join(raw_root, split)
    flow = osp.join(root, 'flow', 'left', 'into_future', name + '.flo')
    if not osp.exists(flow) and osp.exists(flow[:-4] + '.pfm'):
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


def _read_mask(path: str) -> np.ndarray:
    """True where an occlusion PNG is 0 (all channels)."""
    png = read_png(path)
    return (png == 0).all(axis=-1) if png.ndim == 3 else png == 0


def convert_ft3d_frame(
        paths: Dict[str, str],
        near_depth: Optional[float] = 35.0
) -> Tuple[np.ndarray, np.ndarray, Dict[str, int]]:
    """Build the corresponding clouds of one frame.

    Args:
        paths (dict[str, str]): See :func:`ft3d_raw_paths`.
        near_depth (float, optional): Keep the rows with ``z > -near_depth``
            in both clouds (the ``'35m'`` variant); None keeps all.
            Defaults to 35.0.

    Returns:
        tuple: Stored-layout ``pc1`` and ``pc2``, float32 ``(N, 3)``, and
        counts ``unoccluded``, ``non_finite`` (unoccluded pixels dropped for
        a zero disparity), ``far`` (dropped by ``near_depth``) and
        ``positive_z`` (kept rows with z > 0 in either cloud).
    """
    for key, path in paths.items():
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: raw FT3D {key} file not found')
    disp1 = read_pfm(paths['disparity'])
    change = read_pfm(paths['disparity_change'])
    flow = read_flow(paths['flow'])
    visible1 = _read_mask(paths['disparity_occlusions'])
    visible2 = _read_mask(paths['flow_occlusions'])
    shapes = {
        key: arr.shape[:2]
        for key, arr in (('disparity', disp1), ('disparity_change', change),
                         ('flow', flow), ('disparity_occlusions', visible1),
                         ('flow_occlusions', visible2))
    }
    if len(set(shapes.values())) != 1:
        raise ValueError(f'{paths["disparity"]}: image sizes of the frame '
                         f'differ: {shapes}')
    valid = visible1 & visible2
    if disp1.ndim != 2 or change.ndim != 2:
        raise ValueError(f'{paths["disparity"]}: expected single-channel '
                         'disparity PFMs')
    pc1 = ft3d_pixels_to_points(disp1)
    pc2 = ft3d_pixels_to_points(disp1 + change, flow)
    pc1, pc2 = pc1[valid], pc2[valid]
    finite = np.isfinite(pc1).all(axis=1) & np.isfinite(pc2).all(axis=1)
    counts = dict(
        unoccluded=int(valid.sum()), non_finite=int((~finite).sum()), far=0)
    pc1, pc2 = pc1[finite], pc2[finite]
    if near_depth is not None:
        near = (pc1[:, 2] > -near_depth) & (pc2[:, 2] > -near_depth)
        counts['far'] = int((~near).sum())
        pc1, pc2 = pc1[near], pc2[near]
    counts['positive_z'] = int(((pc1[:, 2] > 0) | (pc2[:, 2] > 0)).sum())
    return pc1, pc2, counts


def _convert_one(args: Tuple[str, str, str, str, Optional[float]]) -> dict:
    """Convert one frame; never raises for a bad frame (see ``reason``)."""
    raw_root, out_root, split, name, near_depth = args
    folder = osp.join(out_root, split, name)
    result = dict(split=split, name=name, points=0, reason=None, detail='')
    try:
        pc1, pc2, counts = convert_ft3d_frame(
            ft3d_raw_paths(raw_root, split, name), near_depth)
    except FileNotFoundError as err:
        result.update(reason='a raw file is missing', detail=str(err))
    except (ValueError, OSError) as err:
        result.update(reason='a raw file cannot be read', detail=str(err))
    else:
        result.update(counts)
        if counts['unoccluded'] == 0:
            result['reason'] = 'every pixel is occluded'
        elif counts['unoccluded'] == counts['non_finite']:
            result['reason'] = 'every unoccluded pixel has disparity 0'
        elif len(pc1) == 0:
            result['reason'] = (f'no unoccluded point nearer than '
                                f'{near_depth:g} m in both frames')
        else:
            save_pair(folder, pc1, pc2)
            result['points'] = len(pc1)
    if result['reason'] is not None:
        result['removed'] = remove_pair(folder)
    return result


def list_ft3d_frames(raw_root: str, split: str) -> list:
    """Frame names of a raw split (from ``disparity_change/left/
    into_future``, as HPLFlowNet lists them)."""
    listing = osp.join(raw_root, split, 'disparity_change', 'left',
                       'into_future')
    if not osp.isdir(listing):
        raise FileNotFoundError(
            f'{listing}: raw FT3D folder not found; expected '
            '<RAW>/{train,val}/{disparity,disparity_change,flow,'
            'disparity_occlusions,flow_occlusions}/...')
    return sorted(
        f[:-len('.pfm')] for f in os.listdir(listing) if f.endswith('.pfm'))


def convert_flyingthings3d(raw_root: str,
                           out_root: str,
                           splits: Sequence[str] = ('train', 'val'),
                           variant: str = '35m',
                           workers: int = 0) -> ConversionSummary:
    """Convert the raw FT3D subset to ``<out>/<split>/<name>/pc{1,2}.npy``.

    Frames that cannot be converted (a missing or unreadable raw file, no
    point left) are skipped with their reason, and the earlier output of
    such a frame, if any, is removed; nothing is left half-written.

    Args:
        raw_root (str): Raw FT3D subset folder with ``train/`` and ``val/``.
        out_root (str): Output folder.
        splits (Sequence[str]): Splits to convert. Defaults to both.
        variant (str): ``'35m'`` (near points only, as
            ``FlyingThings3D_subset_processed_35m``) or ``'full'``.
            Defaults to ``'35m'``.
        workers (int): Worker processes, 0 to convert in this process.
            Defaults to 0.

    Returns:
        ConversionSummary: Frames written and skipped per split.
    """
    if variant not in FT3D_VARIANTS:
        raise ValueError(f'FT3D variant must be one of '
                         f'{sorted(FT3D_VARIANTS)}, got {variant!r}')
    near_depth = FT3D_VARIANTS[variant]
    jobs = []
    for split in splits:
        jobs += [(raw_root, out_root, split, name, near_depth)
                 for name in list_ft3d_frames(raw_root, split)]
    summary = ConversionSummary(
        f'FT3D subset ({variant} variant) {raw_root} -> {out_root}',
        list(splits))
    if workers > 0:
        with Pool(workers) as pool:
            results = list(pool.imap(_convert_one, jobs, chunksize=16))
    else:
        results = [_convert_one(job) for job in jobs]
    for res in results:
        frame = f'{res["split"]}/{res["name"]}'
        if res['reason'] is not None:
            summary.add_skipped(res['split'], frame, res['reason'],
                                res['detail'])
            if res['removed']:
                summary.removed.append(frame)
            continue
        summary.add_written(res['split'], res['points'])
        if res['non_finite']:
            summary.add_note(
                'had pixels of disparity 0 dropped (non-finite points)',
                f'{frame} ({res["non_finite"]})')
        if res['positive_z']:
            summary.add_note(
                'hold points with z > 0 (a positive disparity; the FT3D '
                'subset stores negative ones)',
                f'{frame} ({res["positive_z"]} points)')
    return summary
