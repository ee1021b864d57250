"""Pairs of consecutive scans without ground truth, from any folder."""
import logging
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from bpfn.registry import DATASETS
from .base_flow_dataset import BaseSceneFlowDataset
from .readers import POINT_READERS, load_points, read_npy_header
from .transforms.loading import AxesSpec, parse_axes
from .utils import check_data_root

UNLABELED_LAYOUT = ('<data_root>/[<sequence>/...]<scan>.{npy,bin,ply,pcd}, '
                    'e.g. KITTI raw <drive>/velodyne_points/data/*.bin')

#: Shown at most this many names in an error or warning.
_SHOWN = 10


def _natural_key(name: str) -> list:
    """Sort key comparing digit runs as numbers (``2.npy`` < ``10.npy``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', name)]


def _shown(items: Sequence[str]) -> str:
    more = f' and {len(items) - _SHOWN} more' if len(items) > _SHOWN else ''
    return '; '.join(items[:_SHOWN]) + more


def probe_scan(path: str) -> Optional[str]:
    """Why a scan file cannot be read, or None when it looks readable.

    ``.npy`` headers and KITTI ``.bin`` sizes are checked without reading
    the points; ``.ply`` and ``.pcd`` files are read whole (their headers
    need their readers). The values (NaN, inf) of ``.npy`` and ``.bin``
    scans are checked when they are loaded.

    Args:
        path (str): A scan file.

    Returns:
        str | None: A one-line reason that names the file, or None.
    """
    ext = osp.splitext(path)[1].lower()
    try:
        if not osp.isfile(path):
            return f'{path}: not a readable file (a broken link?)'
        with open(path, 'rb'):
            pass
        if ext == '.bin':
            size = osp.getsize(path)
            if size == 0 or size % 16:
                return (f'{path}: {size} bytes is not a positive multiple of '
                        '16; expected KITTI float32 (x, y, z, intensity) '
                        'records')
        elif ext == '.npy':
            shape, dtype, _ = read_npy_header(path)
            if (len(shape) != 2 or shape[0] < 1 or shape[1] < 3
                    or not np.issubdtype(dtype, np.floating)):
                return (f'{path}: holds a {dtype} array of shape {shape}; '
                        'expected float points of shape (N, 3) or '
                        '(N, C >= 3), N >= 1')
        else:
            load_points(path)
    except (OSError, ValueError) as err:
        text = ' '.join(str(err).split())
        return text if text.startswith(path) else f'{path}: {text}'
    return None


@DATASETS.register_module()
class UnlabeledScans(BaseSceneFlowDataset):
    """Pairs of consecutive scans from a folder, without ground truth.

    Every folder under ``data_root`` (``data_root`` itself included) that
    directly holds scan files is a *sequence*; its scans are sorted by name
    (digit runs compared as numbers), and scan ``i`` and ``i + frame_step``
    of one sequence form a sample. Pairs never span two folders. This
    covers a flat folder of scans as well as the KITTI raw layout with
    several drives under one root (``<date>/<drive>/velodyne_points/data/
    0000000000.bin``, ...). Supported files: ``.npy`` (``(N, C >= 3)``
    float, x, y, z first), KITTI ``.bin`` (float32 x, y, z, intensity),
    ``.ply`` and ``.pcd`` (read by
    :func:`~bpfn.datasets.readers.load_points`).

    When built, every scan is checked (see :func:`probe_scan`): a folder
    with unreadable files, or without any pair of scans (a sequence of one
    scan), is an error that names them; a sequence too short for a pair
    next to usable ones is skipped with a warning naming it.

    Samples have no ``flow``: after
    :class:`~bpfn.datasets.transforms.PackFlowInputs` they carry no
    ``gt_flow``, which marks them as unlabelled (:meth:`labeled_mask` is
    all False). They are for training with losses that need no ground
    truth (distillation); the model's loss and ``SceneFlowMetric`` refuse
    them.

    Coordinates: the models are trained on the processed FT3D / KITTI
    layout (x left, y up, z forward, the ground near ``y = -1.65`` m, only
    points in front of the camera). KITTI raw Velodyne scans are x forward,
    y left, z up, so give ``axes='kitti_velodyne'`` (new x, y, z = old y,
    z, x; the sensor sits 1.73 m above the road, so ``GroundRemoval``'s
    -1.4 m still separates the road) and keep the points in front
    (``DepthFilter(min_depth=0)``). Ground removal, the depth filter and
    sampling are the pipeline's, as for KITTI::

        pipeline = [
            dict(type='LoadScanPair'),
            dict(type='GroundRemoval', threshold=-1.4),
            dict(type='DepthFilter', max_depth=35.0, min_depth=0.0),
            dict(type='RandomSampleFlowPoints', num_points=8192),
            dict(type='PackFlowInputs'),
        ]

    Args:
        data_root (str): Root folder of the scans.
        extensions (Sequence[str]): File extensions read as scans (case
            does not matter). Defaults to all supported: ('.npy', '.bin',
            '.ply', '.pcd').
        frame_step (int): Scans between the two clouds of a pair.
            Defaults to 1 (consecutive scans).
        axes (None | str | Sequence[str]): Axis conversion applied when
            loading (``'kitti_velodyne'`` or three signed source axes such
            as ``('y', 'z', 'x')``, see
            :func:`~bpfn.datasets.transforms.loading.parse_axes`); None
            keeps the stored axes. Defaults to None.
        frame_interval (float): Seconds between two consecutive scans,
            stored in the metainfo (the pair interval is ``frame_step``
            times it). Defaults to 0.1 (a 10 Hz LiDAR such as KITTI's).
        check_files (bool): Check every scan when built. Defaults to True.
        **kwargs: See :class:`BaseSceneFlowDataset` (``pipeline``,
            ``dataset_name``, ...).
    """

    METAINFO = dict(dataset_name='UnlabeledScans', frame_interval=0.1)

    def __init__(self,
                 data_root: str,
                 extensions: Sequence[str] = tuple(POINT_READERS),
                 frame_step: int = 1,
                 axes: AxesSpec = None,
                 frame_interval: float = 0.1,
                 check_files: bool = True,
                 **kwargs) -> None:
        exts = tuple(str(e).lower() for e in extensions)
        unknown = [e for e in exts if e not in POINT_READERS]
        if not exts or unknown:
            raise ValueError(
                f'UnlabeledScans: extensions {list(extensions)!r} must be '
                f'some of {list(POINT_READERS)}')
        if int(frame_step) < 1:
            raise ValueError('UnlabeledScans: frame_step must be >= 1, got '
                             f'{frame_step}')
        if not float(frame_interval) > 0:
            raise ValueError('UnlabeledScans: frame_interval must be a '
                             f'positive number of seconds, got '
                             f'{frame_interval}')
        parse_axes(axes, 'UnlabeledScans.axes')  # fail early
        self.extensions = exts
        self.frame_step = int(frame_step)
        self.axes = axes if axes is None or isinstance(axes, str) else tuple(
            axes)
        self.check_files = bool(check_files)
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo.setdefault('frame_interval', float(frame_interval))
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def find_sequences(self) -> List[Tuple[str, List[str]]]:
        """The folders under ``data_root`` that hold scans, with their scans.

        Returns:
            list[tuple[str, list[str]]]: ``(folder relative to data_root,
            sorted scan file names)``, folders in sorted order.
        """
        root = self.data_root
        sequences = []
        seen = set()
        errors: List[OSError] = []
        for folder, dirs, files in os.walk(
                root, onerror=errors.append, followlinks=True):
            real = osp.realpath(folder)
            if real in seen:  # a symlink loop or a second link
                dirs[:] = []
                continue
            seen.add(real)
            dirs.sort(key=_natural_key)
            scans = sorted((f for f in files
                            if osp.splitext(f)[1].lower() in self.extensions),
                           key=_natural_key)
            if scans:
                sequences.append((osp.relpath(folder, root), scans))
        if errors:
            reasons = [
                f'{err.filename}: {err.strerror or type(err).__name__}'
                for err in errors
            ]
            raise ValueError(
                f'UnlabeledScans: {len(errors)} unreadable folder(s) under '
                f'{root!r}: {_shown(reasons)}')
        return sorted(sequences, key=lambda s: _natural_key(s[0]))

    def load_data_list(self) -> List[dict]:
        """List the pairs of scans.

        Returns:
            list[dict]: One info dict per pair with ``sample_name`` (the
            first scan's path relative to ``data_root``, without extension),
            ``pc1_path``, ``pc2_path`` and ``axes``.
        """
        root = check_data_root(self.data_root, 'UnlabeledScans',
                               UNLABELED_LAYOUT)
        sequences = self.find_sequences()
        if not sequences:
            raise FileNotFoundError(
                f'UnlabeledScans: no {"/".join(self.extensions)} scan under '
                f'{root!r}; expected the layout {UNLABELED_LAYOUT}')
        if self.check_files:
            reasons = [
                probe_scan(osp.normpath(osp.join(root, rel, name)))
                for rel, scans in sequences for name in scans
            ]
            bad = [r for r in reasons if r is not None]
            if bad:
                raise ValueError(
                    f'UnlabeledScans: {len(bad)} unreadable scan file(s) '
                    f'under {root!r}: {_shown(bad)}')
        step = self.frame_step
        short = [
            f'{osp.normpath(osp.join(root, rel))} ({len(scans)} scan(s): '
            f'{", ".join(scans[:3])}{", ..." if len(scans) > 3 else ""})'
            for rel, scans in sequences if len(scans) <= step
        ]
        data_list = []
        for rel, scans in sequences:
            folder = osp.normpath(osp.join(root, rel))
            for first, second in zip(scans, scans[step:]):
                data_list.append(
                    dict(
                        sample_name=osp.normpath(
                            osp.join(rel, osp.splitext(first)[0])),
                        pc1_path=osp.join(folder, first),
                        pc2_path=osp.join(folder, second),
                        axes=self.axes))
        if not data_list:
            raise ValueError(
                f'UnlabeledScans: no pair of scans {step} apart in {root!r}: '
                f'{_shown(short)}; a folder needs at least {step + 1} scans '
                '(pairs never span two folders)')
        if short:
            print_log(
                f'UnlabeledScans: {len(short)} folder(s) with too few scans '
                f'for a pair skipped: {_shown(short)}',
                logger='current',
                level=logging.WARNING)
        used = len(sequences) - len(short)
        self.selection = (f'pairs of scans {step} apart from {used} '
                          f'folder(s) in {root}')
        if self.axes is not None:
            self.selection += f', axes={self.axes!r}'
        return data_list

    def labeled_mask(self) -> np.ndarray:
        """No sample has ground truth.

        Returns:
            np.ndarray: ``(len(self),)`` bool, all False.
        """
        return np.zeros(len(self), dtype=bool)
