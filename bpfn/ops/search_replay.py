"""Neighbour searches and samples recorded once and replayed.

The neighbour searches and the farthest point samples of a forward take
points only (the input clouds, their samples, and the second cloud warped
by the coarser flow), never features: every model of the pyramid, the
teacher and its students alike, runs the same searches, of the same sizes,
on a scene. To time the rest of a network alone, record them on one run
(:func:`record_searches`) and replay them on later runs of the same model
and inputs (:func:`replay_searches`): inside, :func:`~bpfn.ops.knn` and
:func:`~bpfn.ops.furthest_point_sample` return the recorded results, in
call order, instead of computing them.
``tools/analysis_tools/benchmark.py --breakdown`` uses it.

Example::

    with record_searches() as record:
        model(inputs, mode='tensor')
    with replay_searches(record):
        model(inputs, mode='tensor')  # no search, no sampling
"""
import contextlib
import contextvars
from typing import Callable, Iterator, List, Optional, Tuple

import torch
from torch import Tensor

_SESSION = contextvars.ContextVar('bpfn_search_replay', default=None)


class SearchRecord:
    """Results of the searches and samplings of one run, in call order.

    Each entry holds the kind of call (``'knn'`` or ``'sample'``), what
    identifies it (neighbours, shapes, dtype, device), a copy of the points
    it took and its outputs.
    """

    def __init__(self) -> None:
        self.calls: List[Tuple[str, tuple, Tuple[Tensor, ...], object]] = []
        self._next: Optional[int] = None  # read position while replaying

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def replaying(self) -> bool:
        """Whether a :func:`replay_searches` block serves from it now."""
        return self._next is not None

    def add(self, kind: str, points: Tuple[Tensor, ...], values: dict,
            outputs: object) -> None:
        """Record a call of ``kind`` on ``points`` with the other
        arguments ``values``, and its ``outputs``."""
        self.calls.append((kind, _key(points, values),
                           tuple(p.detach().clone() for p in points),
                           outputs))

    def take(self, kind: str, points: Tuple[Tensor, ...],
             values: dict) -> object:
        """The outputs of the next recorded call, which must be ``kind``
        with the same other arguments, on the same points (bitwise)."""
        position, key = self._next, _key(points, values)
        if position >= len(self.calls):
            raise RuntimeError(
                f'replay_searches: call {position + 1} ({kind} {key}) was '
                f'not recorded: the record holds {len(self.calls)} calls; '
                'replay the model and inputs that were recorded')
        recorded_kind, recorded_key, recorded, outputs = self.calls[position]
        if (recorded_kind, recorded_key) != (kind, key):
            raise RuntimeError(
                f'replay_searches: call {position + 1} is {kind} {key}, but '
                f'the record holds {recorded_kind} {recorded_key} there; '
                'replay the model and inputs that were recorded')
        if not all(torch.equal(a, b) for a, b in zip(points, recorded)):
            raise RuntimeError(
                f'replay_searches: call {position + 1} ({kind} {key}) takes '
                'other points than the recorded call; replay the model and '
                'inputs that were recorded')
        self._next = position + 1
        return outputs


def _key(points: Tuple[Tensor, ...], values: dict) -> tuple:
    """What names a call in a record and its errors: the shapes, dtypes
    and devices of its point tensors and its other arguments."""
    return tuple((tuple(t.shape), t.dtype, t.device.type)
                 for t in points) + tuple(sorted(values.items()))


@contextlib.contextmanager
def record_searches() -> Iterator[SearchRecord]:
    """Record every neighbour search and sampling inside.

    Yields:
        SearchRecord: Filled in as the searches run.
    """
    record = SearchRecord()
    token = _SESSION.set(record)
    try:
        yield record
    finally:
        _SESSION.reset(token)


@contextlib.contextmanager
def replay_searches(record: SearchRecord) -> Iterator[None]:
    """Serve every neighbour search and sampling inside from ``record``.

    The calls must come in the recorded order with the recorded arguments
    and points (the same model and inputs); a call that does not, or a
    record not used up by the end, raises RuntimeError.
    """
    if record.replaying:
        raise RuntimeError('replay_searches: this record is already being '
                           'replayed')
    record._next = 0
    token = _SESSION.set(record)
    try:
        yield
        if record._next != len(record.calls):
            raise RuntimeError(
                f'replay_searches: {record._next} of the {len(record.calls)}'
                ' recorded calls were replayed; replay the model and inputs '
                'that were recorded')
    finally:
        _SESSION.reset(token)
        record._next = None


def current_record() -> Optional[SearchRecord]:
    """The record of the enclosing :func:`record_searches` or
    :func:`replay_searches`, if any."""
    return _SESSION.get()


def recorded_call(kind: str, points: Tuple[Tensor, ...], values: dict,
                  compute: Callable[[], object]) -> object:
    """``compute()``, recorded inside :func:`record_searches` and served
    from the record inside :func:`replay_searches` instead of computed.

    Args:
        kind (str): The op, ``'knn'`` or ``'sample'``.
        points (tuple[Tensor]): The point tensors the call takes.
        values (dict): Its other arguments.
        compute (Callable): Computes the outputs.
    """
    record = current_record()
    if record is None:
        return compute()
    if record.replaying:
        return record.take(kind, points, values)
    outputs = compute()
    record.add(kind, points, values, outputs)
    return outputs
