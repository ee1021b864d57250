"""Load a pair of point clouds: processed ``.npy`` pairs or raw scans."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS
from ..readers import load_cloud, load_points

#: Named axis conversions of :func:`parse_axes`.
AXES_PRESETS = {
    # KITTI raw Velodyne (x forward, y left, z up) to the processed KITTI /
    # FT3D layout (x left, y up, z forward).
    'kitti_velodyne': ('y', 'z', 'x'),
}

AxesSpec = Union[None, str, Sequence[str]]


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


def parse_axes(axes: AxesSpec,
               owner: str = 'axes') -> Optional[Tuple[Tuple[int, float], ...]]:
    """Read an axis conversion.

    Args:
        axes (None | str | Sequence[str]): None (keep the stored axes), a
            preset of :data:`AXES_PRESETS` (``'kitti_velodyne'``), or three
            signed source axes for the new x, y and z, e.g.
            ``('y', 'z', 'x')`` or ``('-x', 'y', '-z')``.
        owner (str): Shown in error messages. Defaults to 'axes'.

    Returns:
        tuple | None: Three ``(source column, sign)`` pairs, or None.

    Raises:
        ValueError: If the conversion is not a preset or a permutation of
            x, y and z with optional ``-`` signs.
    """
    if axes is None:
        return None
    given = axes
    if isinstance(axes, str):
        if axes not in AXES_PRESETS:
            raise ValueError(
                f'{owner}: unknown axis preset {axes!r}; expected one of '
                f'{sorted(AXES_PRESETS)} or three signed axes such as '
                "('y', 'z', 'x')")
        axes = AXES_PRESETS[axes]
    parsed = []
    for name in axes:
        name = str(name).strip().lower()
        sign = -1.0 if name.startswith('-') else 1.0
        name = name.lstrip('+-')
        if name not in ('x', 'y', 'z'):
            parsed = None
            break
        parsed.append(('xyz'.index(name), sign))
    if (parsed is None or len(parsed) != 3
            or sorted(c for c, _ in parsed) != [0, 1, 2]):
        raise ValueError(
            f'{owner}: {given!r} is not an axis conversion; expected three '
            "source axes, each of x, y, z once with an optional '-' (e.g. "
            "('y', 'z', 'x')), or a preset: " + ', '.join(AXES_PRESETS))
    return tuple(parsed)


def convert_axes(points: np.ndarray,
                 axes: Optional[Tuple[Tuple[int, float], ...]]) -> np.ndarray:
    """Apply a conversion of :func:`parse_axes` to ``(N, 3)`` points.

    Args:
        points (np.ndarray): ``(N, 3)`` points.
        axes (tuple | None): The parsed conversion; None returns ``points``.

    Returns:
        np.ndarray: ``(N, 3)`` points, column ``i`` = ``sign_i *
        points[:, source_i]``, same dtype.
    """
    if axes is None:
        return points
    columns = [points[:, c] * np.asarray(s, points.dtype) for c, s in axes]
    return np.stack(columns, axis=1)


@TRANSFORMS.register_module()
class LoadScanPair(BaseTransform):
    """Load two consecutive scans as an unlabelled pair (no flow).

    Each file is read by its extension (:func:`~bpfn.datasets.readers.
    load_points`: ``.npy``, KITTI ``.bin``, ``.ply``, ``.pcd``) and checked;
    errors name the file. The clouds may have any numbers of points and do
    not correspond (``corresponding=False``). No ``flow`` entry is added:
    the sample has no ground truth, which every later transform and
    :class:`~bpfn.datasets.transforms.PackFlowInputs` accept.

    Required keys: ``pc1_path``, ``pc2_path``; optional ``axes`` (set by
    :class:`~bpfn.datasets.UnlabeledScans`).

    Added keys: ``pc1`` ``(N, 3)``, ``pc2`` ``(M, 3)`` (float32) and
    ``corresponding``.

    Args:
        axes (None | str | Sequence[str]): Axis conversion applied after
            loading (see :func:`parse_axes`; ``'kitti_velodyne'`` turns KITTI
            raw Velodyne axes into the processed KITTI / FT3D ones). None
            uses the sample's ``axes`` entry, or keeps the stored axes.
            Defaults to None.
    """

    def __init__(self, axes: AxesSpec = None) -> None:
        self.axes = axes
        self._parsed = parse_axes(axes, 'LoadScanPair.axes')

    def transform(self, results: dict) -> dict:
        """Load the clouds of one sample.

        Args:
            results (dict): Result dict with ``pc1_path`` and ``pc2_path``.

        Returns:
            dict: The result dict with ``pc1``, ``pc2`` and
            ``corresponding=False``.
        """
        for key in ('pc1_path', 'pc2_path'):
            if key not in results:
                raise KeyError(f'LoadScanPair: the sample has no {key!r} '
                               f'entry (keys: {sorted(results)})')
        axes = self._parsed
        if axes is None:
            axes = parse_axes(results.get('axes'), 'the sample\'s axes')
        for key in ('pc1', 'pc2'):
            results[key] = np.ascontiguousarray(
                convert_axes(load_points(results[f'{key}_path']), axes))
        results['corresponding'] = False
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(axes={self.axes!r})'
