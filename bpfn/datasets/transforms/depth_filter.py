"""Drop points beyond a depth."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS
from .pc1_rows import take_pc1_rows


def filter_points(results: dict, keep1: np.ndarray, keep2: np.ndarray) -> dict:
    """Apply row masks to ``pc1`` (with its per-row entries) and ``pc2``.

    ``keep1`` is applied to ``pc1`` and to every entry with one row per
    ``pc1`` row that the sample holds (``flow``, ``pc1_label``,
    ``ego_flow``: :data:`~bpfn.datasets.transforms.pc1_rows.PC1_ROW_KEYS`).
    When the clouds correspond row by row, one joint mask ``keep1 & keep2``
    is applied to both so the correspondence survives.

    Args:
        results (dict): Result dict with ``pc1`` and ``pc2``.
        keep1 (np.ndarray): ``(N1,)`` bool mask of ``pc1`` rows.
        keep2 (np.ndarray): ``(N2,)`` bool mask of ``pc2`` rows.

    Returns:
        dict: The filtered result dict.
    """
    if results.get('corresponding', False):
        keep1 = keep2 = keep1 & keep2
    take_pc1_rows(results, keep1)
    results['pc2'] = results['pc2'][keep2]
    return results


def pc1_row_mask(results: dict, axis: int, passes) -> np.ndarray:
    """Rows of ``pc1`` that pass a test on one coordinate.

    With ground truth (``flow``) and clouds that do not correspond, a row
    passes when both ``pc1`` and ``pc1 + flow`` pass, as the original
    evaluation does; without ground truth (an unlabelled pair) or for
    corresponding clouds (where ``pc2`` is tested on the same row), ``pc1``
    alone is tested.

    Args:
        results (dict): Result dict with ``pc1`` and optionally ``flow``.
        axis (int): The coordinate tested.
        passes (Callable[[np.ndarray], np.ndarray]): Coordinate values to a
            bool mask.

    Returns:
        np.ndarray: ``(N1,)`` bool mask.
    """
    keep = passes(results['pc1'][:, axis])
    if 'flow' in results and not results.get('corresponding', False):
        keep &= passes((results['pc1'] + results['flow'])[:, axis])
    return keep


def check_not_empty(results: dict, what: str) -> None:
    """Raise a clear error when a filter left a cloud empty."""
    for key in ('pc1', 'pc2'):
        if results[key].shape[0] == 0:
            source = results.get(f'{key}_path') or results.get(
                'sample_name', '?')
            raise ValueError(f'{source}: no point of {key} is left after '
                             f'{what}; expected at least one')


@TRANSFORMS.register_module()
class DepthFilter(BaseTransform):
    """Keep the points nearer than ``max_depth`` (z axis).

    As in the original evaluation, a row is kept when its depth is below the
    limit in both clouds. For corresponding clouds (FT3D, KITTI) this is
    ``pc1.z < max_depth and pc2.z < max_depth`` on the same row; otherwise
    ``pc1`` rows are kept when both ``pc1`` and ``pc1 + flow`` are near, and
    ``pc2`` rows when ``pc2`` is near. A sample without ground truth (an
    unlabelled pair of scans) filters ``pc1`` by its own depth.

    ``min_depth`` optionally also drops points at or behind a depth: the
    processed FT3D and KITTI clouds lie in front of the camera (z > 0),
    while a 360-degree LiDAR scan converted to the same axes also holds
    points behind the sensor (z < 0).

    Required keys: ``pc1``, ``pc2``; optional ``flow``, ``pc1_label``,
    ``ego_flow``, ``corresponding``. Modified: the same.

    Args:
        max_depth (float): Depth limit in metres; a value <= 0 disables the
            filter. Defaults to 35.0.
        axis (int): The depth axis. Defaults to 2.
        min_depth (float, optional): Keep only points deeper than this (m);
            None keeps any depth below ``max_depth``. Defaults to None.
    """

    def __init__(self,
                 max_depth: float = 35.0,
                 axis: int = 2,
                 min_depth: Optional[float] = None) -> None:
        self.max_depth = float(max_depth)
        self.axis = int(axis)
        self.min_depth = None if min_depth is None else float(min_depth)
        if (self.min_depth is not None and self.max_depth > 0
                and self.min_depth >= self.max_depth):
            raise ValueError(
                f'DepthFilter: min_depth={self.min_depth} must be below '
                f'max_depth={self.max_depth}')

    def _passes(self, depth: np.ndarray) -> np.ndarray:
        keep = np.ones(depth.shape, dtype=bool)
        if self.max_depth > 0:
            keep &= depth < self.max_depth
        if self.min_depth is not None:
            keep &= depth > self.min_depth
        return keep

    def transform(self, results: dict) -> dict:
        """Filter one sample.

        Args:
            results (dict): Result dict.

        Returns:
            dict: The filtered result dict.
        """
        if self.max_depth <= 0 and self.min_depth is None:
            return results
        keep1 = pc1_row_mask(results, self.axis, self._passes)
        keep2 = self._passes(results['pc2'][:, self.axis])
        results = filter_points(results, keep1, keep2)
        limits = []
        if self.min_depth is not None:
            limits.append(f'> {self.min_depth} m')
        if self.max_depth > 0:
            limits.append(f'< {self.max_depth} m')
        check_not_empty(results, f'the depth filter ({", ".join(limits)})')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_depth={self.max_depth}, '
                f'axis={self.axis}, min_depth={self.min_depth})')
