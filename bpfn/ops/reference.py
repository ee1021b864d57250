"""A switch to the straightforward algorithms of the original BPF.

Inside :func:`reference_algorithms` the ops and layers compute as the
original implementation does, with its compiled operators written as plain
PyTorch: neighbours from the full ``|a|^2 + |b|^2 - 2 a.b`` matrix and
``topk``, farthest point sampling as a plain loop, gathers by indexing, and
every layer on the whole cloud at once (no chunks). The results are the
same (the same neighbours and samples; sums in another order); only the
time and memory differ. ``tools/analysis_tools/benchmark.py
--compare-reference`` times a model both ways.

Example::

    with reference_algorithms():
        out = model(inputs, mode='tensor')
"""
import contextlib
import contextvars
from typing import Iterator

_REFERENCE = contextvars.ContextVar('bpfn_reference_algorithms',
                                    default=False)


@contextlib.contextmanager
def reference_algorithms(enabled: bool = True) -> Iterator[None]:
    """Run the enclosed code with the original's algorithms.

    Args:
        enabled (bool): Switch them on (or, nested, off again).
            Defaults to True.
    """
    token = _REFERENCE.set(bool(enabled))
    try:
        yield
    finally:
        _REFERENCE.reset(token)


def use_reference() -> bool:
    """Whether :func:`reference_algorithms` is on in this context."""
    return _REFERENCE.get()
