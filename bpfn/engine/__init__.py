"""Runner, loops, optimizer wrapper, schedulers and hooks of bpfn."""
from .hooks import *  # noqa: F401,F403
from .launch import (build_runner, finish_distributed, resolve_resume,
                     setup_launcher, train_work_dir_lock, use_amp)
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
    'ClampedStepLR', 'ResumableSampler', 'setup_launcher', 'use_amp',
    'build_runner', 'resolve_resume', 'train_work_dir_lock',
    'finish_distributed'
]
