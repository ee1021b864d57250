"""Remove ground points of KITTI scenes."""
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS
from .depth_filter import check_not_empty, filter_points, pc1_row_mask


@TRANSFORMS.register_module()
class GroundRemoval(BaseTransform):
    """Drop points below a height in both clouds, as the original KITTI
    evaluation does.

    The processed KITTI clouds have y pointing up with the camera at
    ``y = 0`` and the road near ``y = -1.65`` m; a row is ground when
    ``pc1.y < threshold`` and ``pc2.y < threshold``. For clouds that do not
    correspond row by row, ``pc1`` rows use ``pc1`` and ``pc1 + flow``, and
    ``pc2`` rows use ``pc2`` alone; a sample without ground truth (an
    unlabelled pair of scans) tests ``pc1`` alone. The per-row entries of
    ``pc1`` (``flow``, ``pc1_label``, ``ego_flow``) follow its rows.

    Required keys: ``pc1``, ``pc2``; optional ``flow``, ``pc1_label``,
    ``ego_flow``, ``corresponding``. Modified: the same.

    Args:
        threshold (float): Height limit in metres. Defaults to -1.4.
        axis (int): The height axis. Defaults to 1.
    """

    def __init__(self, threshold: float = -1.4, axis: int = 1) -> None:
        self.threshold = float(threshold)
        self.axis = int(axis)

    def transform(self, results: dict) -> dict:
        """Remove the ground of one sample.

        Args:
            results (dict): Result dict.

        Returns:
            dict: The filtered result dict.
        """
        a, t = self.axis, self.threshold
        if results.get('corresponding', False):
            ground = (results['pc1'][:, a] < t) & (results['pc2'][:, a] < t)
            keep1 = keep2 = ~ground
        else:
            # Ground when below in pc1 and (with ground truth) in pc1 + flow.
            keep1 = ~pc1_row_mask(results, a, lambda y: y < t)
            keep2 = ~(results['pc2'][:, a] < t)
        results = filter_points(results, keep1, keep2)
        check_not_empty(results, f'ground removal (y < {t} m)')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(threshold={self.threshold}, '
                f'axis={self.axis})')
