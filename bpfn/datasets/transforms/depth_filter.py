"""Drop points beyond a depth."""
import numpy as np
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS


def _target(results: dict) -> np.ndarray:
    return results['pc1'] + results['flow']


def filter_points(results: dict, keep1: np.ndarray, keep2: np.ndarray) -> dict:
    """Apply row masks to ``pc1``/``flow`` and ``pc2``.

    When the clouds correspond row by row, one joint mask ``keep1 & keep2``
    is applied to both so the correspondence survives.

    Args:
        results (dict): Result dict with ``pc1``, ``pc2``, ``flow``.
        keep1 (np.ndarray): ``(N1,)`` bool mask of ``pc1`` rows.
        keep2 (np.ndarray): ``(N2,)`` bool mask of ``pc2`` rows.

    Returns:
        dict: The filtered result dict.
    """
    if results.get('corresponding', False):
        keep1 = keep2 = keep1 & keep2
    results['pc1'] = results['pc1'][keep1]
    results['flow'] = results['flow'][keep1]
    results['pc2'] = results['pc2'][keep2]
    return results


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
    ``pc2`` rows when ``pc2`` is near.

    Required keys: ``pc1``, ``pc2``, ``flow``. Modified: the same.

    Args:
        max_depth (float): Depth limit in metres; a value <= 0 disables the
            filter. Defaults to 35.0.
        axis (int): The depth axis. Defaults to 2.
    """

    def __init__(self, max_depth: float = 35.0, axis: int = 2) -> None:
        self.max_depth = float(max_depth)
        self.axis = int(axis)

    def transform(self, results: dict) -> dict:
        """Filter one sample.

        Args:
            results (dict): Result dict.

        Returns:
            dict: The filtered result dict.
        """
        if self.max_depth <= 0:
            return results
        a, d = self.axis, self.max_depth
        if results.get('corresponding', False):
            keep1 = results['pc1'][:, a] < d
            keep2 = results['pc2'][:, a] < d
        else:
            keep1 = (results['pc1'][:, a] < d) & (_target(results)[:, a] < d)
            keep2 = results['pc2'][:, a] < d
        results = filter_points(results, keep1, keep2)
        check_not_empty(results, f'the depth filter (< {d} m)')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_depth={self.max_depth}, '
                f'axis={self.axis})')
