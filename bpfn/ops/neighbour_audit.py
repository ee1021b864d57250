"""A check that bpfn's default searches and its export paths agree.

The exported graph (:func:`bpfn.ops.export_algorithms`) and bpfn's default
paths both compute exact k nearest neighbours and identical farthest point
samples. They may still pick different neighbours where candidates have
exactly equal float32 distances: ONNX ``TopK`` takes the lower index,
``torch.topk`` its own selection order. Inside :func:`neighbour_audit`,
every default-path search is also run on its export path with the same
inputs and the two are compared, so that a difference in flows can be
traced to such ties (or shown to come from somewhere else).

Example::

    with neighbour_audit() as audit:
        flows = model.extract(pc1, pc2)['flows']
    assert audit.exact, audit.summary()
"""
import contextlib
import contextvars
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import Tensor

_AUDIT = contextvars.ContextVar('bpfn_neighbour_audit', default=None)


@dataclass
class NeighbourAudit:
    """What :func:`neighbour_audit` found.

    Attributes:
        searches (int): Neighbour searches compared.
        rows (int): Query rows compared, over all searches and clouds.
        tie_rows (int): Rows whose neighbour sets differ, the sorted
            distances being bitwise equal: both are exact k nearest
            neighbours, tied candidates taken differently.
        other_rows (int): Rows whose neighbours differ in distance: one
            of the two searches is not exact.
        samplings (int): Farthest point samplings compared.
        sampling_mismatches (int): Samplings whose indices differ.
    """
    searches: int = 0
    rows: int = 0
    tie_rows: int = 0
    other_rows: int = 0
    samplings: int = 0
    sampling_mismatches: int = 0

    @property
    def exact(self) -> bool:
        """Whether the two paths differ at exact ties only."""
        return self.other_rows == 0 and self.sampling_mismatches == 0

    def compare_knn(self, idx: Tensor, dist: Tensor, export_idx: Tensor,
                    export_dist: Tensor) -> None:
        """Compare one search of the default path with the export path's.

        Args:
            idx (Tensor): Default-path neighbours (B, S, K), any order.
            dist (Tensor): Their squared distances (B, S, K).
            export_idx (Tensor): Export-path neighbours (B, S, K).
            export_dist (Tensor): Their squared distances (B, S, K).
        """
        same_set = (idx.sort(-1)[0] == export_idx.sort(-1)[0]).all(-1)
        same_dist = (dist.sort(-1)[0] == export_dist.sort(-1)[0]).all(-1)
        self.searches += 1
        self.rows += same_set.numel()
        self.tie_rows += int((~same_set & same_dist).sum())
        self.other_rows += int((~same_dist).sum())

    def compare_samples(self, idx: Tensor, export_idx: Tensor) -> None:
        """Compare one farthest point sampling (B, S) of both paths."""
        self.samplings += 1
        self.sampling_mismatches += int(not torch.equal(idx, export_idx))

    def summary(self) -> str:
        """One line on what was compared and found."""
        text = (f'{self.searches} neighbour searches ({self.rows} query '
                f'rows): {self.tie_rows} rows take other neighbours at '
                'exact float32 distance ties')
        if self.other_rows:
            text += (f', {self.other_rows} rows take neighbours at other '
                     'distances')
        text += (f'; {self.samplings} samplings, '
                 f'{self.sampling_mismatches} differ')
        return text


@contextlib.contextmanager
def neighbour_audit() -> Iterator[NeighbourAudit]:
    """Compare every search and sampling inside with the export paths.

    It costs one dense search with a full sort per neighbour search: use it
    for checks, not for timing.

    Yields:
        NeighbourAudit: Filled in as the searches run.
    """
    audit = NeighbourAudit()
    token = _AUDIT.set(audit)
    try:
        yield audit
    finally:
        _AUDIT.reset(token)


def current_audit() -> Optional[NeighbourAudit]:
    """The audit of the enclosing :func:`neighbour_audit`, if any."""
    return _AUDIT.get()
