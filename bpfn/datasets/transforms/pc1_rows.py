"""The entries of a sample that hold one row per ``pc1`` point.

A transform that selects or reorders the rows of ``pc1`` (a filter, a
sampler) applies the same rows to every entry listed here that the sample
holds, so the ground truth and the per-point labels stay aligned with the
points:

* ``flow`` ``(N, 3)``: ground-truth scene flow. Absent on unlabelled
  samples (see :class:`~bpfn.datasets.transforms.PackFlowInputs`).
* ``pc1_label`` ``(N,)`` int: -1 for background, else the index of the
  object the point lies on (synthetic scenes).
* ``ego_flow`` ``(N, 3)``: the flow the sensor's own motion alone gives the
  point; ``flow - ego_flow`` is the ego-motion-compensated flow.
* ``pc1_rows`` ``(N,)`` int64: the row of each point in the cloud as it was
  given (set by :func:`bpfn.apis.inference_scene`, which spreads the flow
  of the kept points back to every input point).
"""
from typing import Tuple

import numpy as np

#: Optional entries with one row per ``pc1`` row.
PC1_ROW_KEYS: Tuple[str, ...] = ('flow', 'pc1_label', 'ego_flow',
                                 'pc1_rows')

#: Entries that are displacements of ``pc1`` (they move with the clouds
#: under an augmentation).
MOTION_KEYS: Tuple[str, ...] = ('flow', 'ego_flow')


def take_pc1_rows(results: dict, rows: np.ndarray) -> dict:
    """Keep the rows ``rows`` of ``pc1`` and of every per-row entry.

    Args:
        results (dict): Result dict with ``pc1`` and any of
            :data:`PC1_ROW_KEYS`.
        rows (np.ndarray): ``(N,)`` bool mask or ``(M,)`` integer indices
            of ``pc1`` rows.

    Returns:
        dict: The same dict, modified in place.
    """
    results['pc1'] = results['pc1'][rows]
    for key in PC1_ROW_KEYS:
        if key in results:
            results[key] = results[key][rows]
    return results
