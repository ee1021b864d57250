"""Runner, loops, optimizer wrapper, schedulers and hooks of bpfn."""
from .hooks import *  # noqa: F401,F403
from .meta_kd import MetaKDTrainLoop
from .optim_wrapper import (FiniteLossAmpOptimWrapper,
                            FiniteLossOptimWrapper, NonFiniteLossError,
                            NonFiniteLossGuard)
from .resumable_sampler import ResumableSampler
from .runner import BPFNRunner
from .schedulers import ClampedStepLR

__all__ = [
    'MetaKDTrainLoop', 'BPFNRunner', 'FiniteLossOptimWrapper',
    'FiniteLossAmpOptimWrapper', 'NonFiniteLossGuard', 'NonFiniteLossError',
    'ClampedStepLR', 'ResumableSampler'
]
