"""What the tools do with a loaded config: launch, build, resume, finish.

``tools/train.py`` reads top to bottom:
:func:`bpfn.utils.tool_utils.load_config` (arguments and config),
:func:`setup_launcher`, :func:`use_amp` (``--amp``),
:func:`train_work_dir_lock`, :func:`resolve_resume` (``--resume``),
:func:`build_runner`, ``runner.train()``, :func:`finish_distributed`.
"""
import datetime
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from bpfn.registry import RUNNERS
from bpfn.utils.checkpoint import (CheckpointError, find_latest_checkpoint,
                                   resolve_checkpoint)
from bpfn.utils.work_dir_lock import LOCK_NAME, WorkDirLock

__all__ = [
    'setup_launcher', 'use_amp', 'build_runner', 'resolve_resume',
    'train_work_dir_lock', 'finish_distributed'
]


def setup_launcher(cfg: Config) -> None:
    """Prepare a distributed launch; make ``--launcher pytorch`` work on CPU.

    MMEngine's ``init_dist`` always selects a CUDA device, and its default
    DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which CPU modules
    refuse. Without CUDA this starts the process group here (the runner
    then keeps it) with ``env_cfg.dist_cfg`` (backend ``gloo``, optional
    ``timeout`` in seconds) and sets ``model_wrapper_cfg`` to
    ``MMDistributedDataParallel`` with ``device_ids=None``. With CUDA
    nothing changes (MMEngine's runner starts the process group), nor
    with ``launcher='none'``.

    Args:
        cfg (Config): The config from
            :func:`bpfn.utils.tool_utils.load_config` (``launcher`` set).
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {cfg.launcher} needs CUDA; without it only '
            '--launcher pytorch (torchrun, tools/dist_train.sh) is supported')
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}) or {})
    backend = dist_cfg.get('backend', 'gloo')
    if backend != 'gloo':
        raise ValueError(f'env_cfg.dist_cfg.backend={backend!r} needs CUDA; '
                         "use 'gloo' on CPU")
    if not torch_dist.is_initialized():
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(
                seconds=int(dist_cfg['timeout']))
        torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       bool(cfg.get('find_unused_parameters', False)))
    cfg.model_wrapper_cfg = wrapper


def use_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision, keeping the guard.

    ``FiniteLossOptimWrapper`` (or no type) becomes
    ``FiniteLossAmpOptimWrapper`` (NaN/inf guard kept), any other type
    MMEngine's ``AmpOptimWrapper``; ``loss_scale`` defaults to
    ``'dynamic'``.

    Args:
        cfg (Config): The config; ``optim_wrapper`` is changed in place.
    """
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'FiniteLossOptimWrapper') in (
            'FiniteLossOptimWrapper', 'FiniteLossAmpOptimWrapper'):
        wrapper.type = 'FiniteLossAmpOptimWrapper'
    else:
        wrapper.type = 'AmpOptimWrapper'
        wrapper.pop('non_finite', None)
        wrapper.pop('max_skips', None)
    wrapper.setdefault('loss_scale', 'dynamic')


def build_runner(cfg: Config):
    """Build the runner named by ``cfg.runner_type`` (or MMEngine's).

    Args:
        cfg (Config): The config.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' in cfg:
        runner_cls = RUNNERS.get(cfg.runner_type)
        if runner_cls is None:
            raise KeyError(f'runner_type {cfg.runner_type!r} is not a '
                           'registered runner (bpfn has BPFNRunner)')
        return runner_cls.from_cfg(cfg)
    return Runner.from_cfg(cfg)


def resolve_resume(cfg: Config, resume: Optional[str]) -> Optional[str]:
    """Point the config at the checkpoint to resume from.

    Args:
        cfg (Config): The config (``work_dir`` set); ``resume`` and
            ``load_from`` are set.
        resume (str, optional): ``'auto'`` for the newest complete
            checkpoint of the work dir, a checkpoint file or a work dir;
            None to not resume.

    Returns:
        str | None: The checkpoint that training resumes from.

    Raises:
        CheckpointError: If the work dir holds no complete checkpoint.
    """
    if resume is None:
        return None

    def warn(msg: str) -> None:
        print_log(msg, logger='current', level=30)

    if resume == 'auto':
        work_dir = cfg.work_dir
        if not osp.isdir(work_dir) or not [
                n for n in os.listdir(work_dir) if n != LOCK_NAME]:
            raise CheckpointError(
                f'--resume: the work dir {work_dir} is empty or missing, '
                'there is no checkpoint to resume from; train without '
                '--resume first, or pass --resume PATH')
        path = find_latest_checkpoint(work_dir, warn)
    else:
        path = resolve_checkpoint(resume, warn)
    print_log(f'resuming from {path}', logger='current')
    cfg.resume = True
    cfg.load_from = path
    return path


@contextmanager
def train_work_dir_lock(cfg: Config) -> Iterator[None]:
    """Hold the work dir lock while ``tools/train.py`` runs, in one process.

    Taken before the checkpoint to resume from is looked for, so a second
    run stops before it reads or writes anything. A distributed run takes
    it later, in :meth:`bpfn.engine.BPFNRunner.train` (rank 0, the outcome
    broadcast to every rank).

    Args:
        cfg (Config): Config from
            :func:`bpfn.utils.tool_utils.load_config` (``work_dir`` set).

    Raises:
        WorkDirLockedError: If another run holds the work dir.
    """
    if cfg.launcher != 'none':
        yield
        return
    with WorkDirLock(cfg.work_dir,
                     lambda msg: print_log(msg, logger='current', level=30)):
        yield


def finish_distributed() -> None:
    """Wait for every process, then close the process group.

    Without this, a process that leaves while another still tears down its
    gloo threads can abort ('terminate called without an active
    exception').
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
