"""Types that bpfn's own checkpoints may hold besides tensors."""
from typing import List


def bpfn_safe_globals() -> List[object]:
    """The allowlist for ``torch.load(weights_only=True)``.

    MMEngine checkpoints store their meta data (config text, dataset meta,
    message hub with numpy scalars and log history) next to the weights.
    """
    import collections

    import numpy as np
    allow: List[object] = [collections.OrderedDict, collections.defaultdict,
                           np.dtype, np.ndarray]
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
    try:
        from mmengine.logging import HistoryBuffer, MessageHub
        allow += [HistoryBuffer, MessageHub]
    except ImportError:
        pass
    try:
        from mmengine.config import ConfigDict
        allow.append(ConfigDict)
    except ImportError:
        pass
    return allow
