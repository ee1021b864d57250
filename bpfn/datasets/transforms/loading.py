"""Load a pair of point clouds saved as ``.npy`` files."""
from typing import Optional, Sequence

from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS
from ..readers import load_cloud


@TRANSFORMS.register_module()
class LoadSceneFlowNpy(BaseTransform):
    """Load ``pc1``/``pc2`` and the ground-truth flow.

    The processed FT3D and KITTI files store corresponding rows: row ``i`` of
    ``pc2`` is where row ``i`` of ``pc1`` moved, so ``flow = pc2 - pc1``
    (``corresponding=True``). A sample with a ``flow_path`` instead gives
    the flow of each ``pc1`` row explicitly; its ``pc2`` may then have any
    number of rows (``corresponding=False``). Every file is validated
    (:func:`~bpfn.datasets.readers.load_cloud`: a consistent ``.npy``
    header, shape ``(N, 3)``, float dtype, values finite in float32, at
    least one point, matching row counts); errors name the file.

    Required keys: ``pc1_path``, ``pc2_path``; optional ``flow_path``,
    ``flip_axes``.

    Added keys: ``pc1`` ``(N, 3)``, ``pc2`` ``(M, 3)``, ``flow`` ``(N, 3)``
    (float32 arrays) and ``corresponding``.

    Args:
        flip_axes (Sequence[int], optional): Axes to negate after loading
            (FT3D's processed files need ``(0, 2)``). ``None`` uses the
            sample's ``flip_axes`` entry (set by the dataset), or no flip.
            Defaults to None.
    """

    def __init__(self, flip_axes: Optional[Sequence[int]] = None) -> None:
        self.flip_axes = None if flip_axes is None else tuple(flip_axes)

    def transform(self, results: dict) -> dict:
        """Load the clouds of one sample.

        Args:
            results (dict): Result dict with ``pc1_path`` and ``pc2_path``.

        Returns:
            dict: The result dict with ``pc1``, ``pc2``, ``flow``.
        """
        for key in ('pc1_path', 'pc2_path'):
            if key not in results:
                raise KeyError(f'LoadSceneFlowNpy: the sample has no {key!r} '
                               f'entry (keys: {sorted(results)})')
        pc1 = load_cloud(results['pc1_path'])
        pc2 = load_cloud(results['pc2_path'])
        flow_path = results.get('flow_path')
        if flow_path is not None:
            flow = load_cloud(flow_path)
            if flow.shape[0] != pc1.shape[0]:
                raise ValueError(
                    f'{flow_path}: expected one flow row per row of '
                    f'{results["pc1_path"]} ({pc1.shape[0]}), got '
                    f'{flow.shape[0]}')
        elif pc1.shape[0] != pc2.shape[0]:
            raise ValueError(
                f'{results["pc2_path"]}: expected as many rows as '
                f'{results["pc1_path"]} (corresponding points), got '
                f'{pc2.shape[0]} and {pc1.shape[0]}')
        axes = self.flip_axes
        if axes is None:
            axes = tuple(results.get('flip_axes', ()))
        for axis in axes:
            pc1[:, axis] *= -1
            pc2[:, axis] *= -1
            if flow_path is not None:
                flow[:, axis] *= -1
        results['pc1'] = pc1
        results['pc2'] = pc2
        results['flow'] = flow if flow_path is not None else pc2 - pc1
        results['corresponding'] = flow_path is None
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(flip_axes={self.flip_axes})'
