"""Types that bpfn's own checkpoints may hold besides tensors."""
from typing import Any, List, Sequence

from mmengine.logging import HistoryBuffer


class SafeHistoryBuffer(HistoryBuffer):
    """A :class:`~mmengine.logging.HistoryBuffer` that pickles as plain data.

    MMEngine's ``HistoryBuffer`` pickles its ``statistics_methods`` dict,
    whose bound methods are rebuilt through ``builtins.getattr``; allowing
    ``getattr`` in ``torch.load(weights_only=True)`` would let a file call
    any method of an allowed class. This subclass pickles as
    ``SafeHistoryBuffer(log_history, count_history, max_length)`` with lists
    of numbers, so only the class itself needs to be allowed. Being a
    ``HistoryBuffer``, it is accepted by ``MessageHub.load_state_dict``.

    Args:
        log_history (Sequence): History logs. Defaults to ().
        count_history (Sequence): Counts of the logs. Defaults to ().
        max_length (int): The maximum number of logs kept.
            Defaults to 1000000.
    """

    def __init__(self,
                 log_history: Sequence = (),
                 count_history: Sequence = (),
                 max_length: int = 1000000) -> None:
        super().__init__(list(log_history), list(count_history),
                         int(max_length))

    @classmethod
    def from_buffer(cls, buffer: HistoryBuffer) -> 'SafeHistoryBuffer':
        """A copy of ``buffer`` (through its public ``data``).

        Args:
            buffer (HistoryBuffer): The buffer to copy.

        Returns:
            SafeHistoryBuffer: A buffer with the same logs, counts and
            maximum length.
        """
        logs, counts = buffer.data
        return cls(logs.tolist(), counts.tolist(), buffer.max_length)

    def __reduce__(self) -> tuple:
        """Pickle as the constructor call with plain lists of numbers."""
        logs, counts = self.data
        return (SafeHistoryBuffer, (logs.tolist(), counts.tolist(),
                                    int(self.max_length)))


def to_safe_history_buffers(obj: Any) -> Any:
    """Replace every ``HistoryBuffer`` in nested dicts/lists by a safe copy.

    Containers are rebuilt (dicts keep their type, e.g. ``OrderedDict``),
    the objects they came from are left unchanged.

    Args:
        obj (Any): A message hub state dict or part of it.

    Returns:
        Any: The same structure with :class:`SafeHistoryBuffer` leaves.
    """
    if isinstance(obj, HistoryBuffer):
        return SafeHistoryBuffer.from_buffer(obj)
    if isinstance(obj, dict):
        out = type(obj)() if type(obj) is not dict else {}
        for key, value in obj.items():
            out[key] = to_safe_history_buffers(value)
        return out
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(to_safe_history_buffers(v) for v in obj)
    return obj


def bpfn_safe_globals() -> List[object]:
    """The allowlist for ``torch.load(weights_only=True)``.

    MMEngine checkpoints store their meta data (config text, dataset meta,
    message hub with numpy scalars and log history) next to the weights.
    The message hub's log history is saved as :class:`SafeHistoryBuffer`
    by :class:`bpfn.engine.BPFNRunner`; ``builtins.getattr``, which plain
    ``HistoryBuffer`` pickles need, is deliberately not allowed.

    Returns:
        list: Classes and functions that unpickling may use.
    """
    import collections

    import numpy as np
    allow: List[object] = [collections.OrderedDict, collections.defaultdict,
                           np.dtype, np.ndarray, SafeHistoryBuffer]
    try:
        from numpy.core.multiarray import _reconstruct, scalar
        allow += [_reconstruct, scalar]
    except ImportError:  # numpy >= 2 without the deprecated alias
        pass
    try:
        from numpy._core.multiarray import _reconstruct, scalar
        allow += [_reconstruct, scalar]
    except ImportError:
        pass
    allow += [type(np.dtype(t)) for t in ('float32', 'float64', 'int64',
                                          'int32', 'bool')]
    from mmengine.logging import MessageHub
    allow += [HistoryBuffer, MessageHub]
    try:
        from mmengine.config import ConfigDict
        allow.append(ConfigDict)
    except ImportError:
        pass
    return allow
