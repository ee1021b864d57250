"""Stop training at a safe point on SIGTERM or SIGINT."""
import os
import signal
import sys
import threading
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook

from bpfn.registry import HOOKS


def graceful_worker_init_fn(worker_id: int,
                            num_workers: int,
                            rank: int,
                            seed: Optional[int] = None,
                            disable_subprocess_warning: bool = False) -> None:
    """Start a data loader worker that leaves SIGTERM / SIGINT to training.

    Slurm signals every process of a job step and Ctrl-C the whole process
    group; a worker that died of it would crash the training process
    before :class:`GracefulStopHook` reaches its safe point, so workers
    ignore both (they end when the training process shuts them down, or
    when it is gone). Then the worker is seeded as MMEngine's
    :func:`mmengine.dataset.worker_init_fn` seeds it.
    :class:`~bpfn.engine.BPFNRunner` uses it for data loaders with workers
    and no ``worker_init_fn`` of their own.

    Args:
        worker_id (int): Worker index.
        num_workers (int): Workers of the data loader.
        rank (int): Process rank.
        seed (int, optional): Base seed; None leaves the seeds alone.
        disable_subprocess_warning (bool): Silence warnings in workers
            other than the first. Defaults to False.
    """
    from mmengine.dataset import worker_init_fn
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if seed is not None:
        worker_init_fn(worker_id, num_workers, rank, seed,
                       disable_subprocess_warning)


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal, at a safe point.

    Args:
        message (str): What happened and how to continue.
        signum (int): The signal.

    Attributes:
        exit_code (int): ``128 + signum`` (143 for SIGTERM, 130 for
            SIGINT), the status a shell reports for a signal.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


@HOOKS.register_module()
class GracefulStopHook(Hook):
    """Stop training at a safe point on SIGTERM or SIGINT.

    Schedulers such as Slurm send SIGTERM before they kill a job (after
    ``KillWait``, 30 s by default). From ``before_train`` on, the first
    SIGTERM or SIGINT only sets a flag; training stops after the current
    iteration (or validation step), with every file complete. Data loader
    workers ignore the signals (:func:`graceful_worker_init_fn`), so they
    do not die under the training process before it reaches the safe
    point. In a
    distributed run the ranks agree on the flag every iteration, so they
    all stop at the same one. With ``save_checkpoint`` a resumable
    checkpoint ``epoch_<done>_iter_<n>.pth`` (``iter_<n>.pth`` for
    iteration-based training) is saved first and ``last_checkpoint`` points
    to it; ``--resume`` continues from the next batch of the same epoch
    (:class:`~bpfn.engine.ResumableSampler`). Then
    :class:`TrainingInterrupted` is raised; ``tools/train.py`` prints its
    message and exits with ``128 + signum``. A second signal acts at once,
    as without this hook.

    :class:`~bpfn.engine.BPFNRunner` registers this hook by default
    (``default_hooks.graceful_stop``; set it to None to keep the default
    signal behaviour).

    Args:
        save_checkpoint (bool, optional): Save a resumable checkpoint before
            stopping during training. Defaults to None: on when the run is
            a Slurm job (``SLURM_JOB_ID`` is set), where a preempted or
            timed-out job should lose no work.
        signals (Sequence[str]): Signals to handle.
            Defaults to ``('SIGTERM', 'SIGINT')``.
    """

    priority = 'LOWEST'

    def __init__(self, save_checkpoint: Optional[bool] = None,
                 signals: Sequence[str] = ('SIGTERM', 'SIGINT')) -> None:
        if save_checkpoint is None:
            save_checkpoint = 'SLURM_JOB_ID' in os.environ
        self.save_checkpoint = bool(save_checkpoint)
        for name in signals:
            if not isinstance(getattr(signal, str(name), None),
                              signal.Signals):
                raise ValueError(f'GracefulStopHook: unknown signal {name!r}')
        self.signals = [getattr(signal, str(name)) for name in signals]
        self.received: Optional[int] = None
        self._previous: Dict[int, object] = {}
        self._owner = os.getpid()

    # ------------------------------------------------------------------
    def install(self) -> None:
        """Handle the signals (main thread only; elsewhere nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self.received = None
        self._owner = os.getpid()
        for signum in self.signals:
            if signum not in self._previous:
                self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put back the handlers found by :meth:`install`."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        if os.getpid() != self._owner:
            # A forked child (e.g. a data loader worker before its init
            # function ran): the training process stops the run.
            return
        name = signal.Signals(signum).name
        if self.received is not None:
            # A second signal: behave as if this hook were not there.
            previous = self._previous.get(signum, signal.SIG_DFL)
            self.restore()
            if callable(previous):
                previous(signum, frame)
            else:
                os.kill(os.getpid(), signum)
            return
        self.received = signum
        print(f'received {name}: stopping after the current iteration '
              f'(send {name} again to stop at once)', file=sys.stderr,
              flush=True)

    def _agreed_signal(self) -> int:
        """The signal received by any rank, 0 if none."""
        value = self.received or 0
        if is_distributed():
            flag = torch.tensor([float(value)])
            all_reduce(flag, op='max')
            value = int(flag.item())
        return value

    # ------------------------------------------------------------------
    def before_train(self, runner) -> None:
        """Start handling the signals."""
        self.install()

    def after_train(self, runner) -> None:
        """Stop handling them (the runner also does on errors)."""
        self.restore()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Stop after this iteration if a signal came."""
        signum = self._agreed_signal()
        if signum:
            self._stop(runner, signum, in_train=True)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs=None) -> None:
        """Stop during validation if a signal came (nothing to save)."""
        if not self._previous:  # not training (or not the main thread)
            return
        signum = self._agreed_signal()
        if signum:
            self._stop(runner, signum, in_train=False)

    def _stop(self, runner, signum: int, in_train: bool) -> None:
        from .safe_checkpoint_hook import SafeCheckpointHook
        name = signal.Signals(signum).name
        where = (f'after iteration {runner.iter + 1} (epoch '
                 f'{runner.epoch + 1})' if in_train else
                 f'during the validation after epoch {runner.epoch}')
        ckpt_hook = next((h for h in runner.hooks
                          if isinstance(h, SafeCheckpointHook)), None)
        saved = None
        note = ''
        if in_train and self.save_checkpoint:
            if ckpt_hook is None:
                note = ('; no checkpoint saved: the run has no '
                        'SafeCheckpointHook')
            else:
                saved = ckpt_hook.save_interrupt_checkpoint(runner)
                if saved is None:
                    note = ('; no checkpoint saved: its train sampler cannot '
                            'resume mid-epoch (only DefaultSampler / '
                            'ResumableSampler can)')
        if saved is not None:
            then = (f'saved the resumable checkpoint {saved}; --resume '
                    'continues from the next batch')
        else:
            last = getattr(ckpt_hook, 'last_ckpt', None)
            then = (f'--resume continues from the last checkpoint {last}'
                    if last else 'no checkpoint was saved yet')
            if in_train and not self.save_checkpoint:
                note += (' (saving one on a signal is off: '
                         'default_hooks.graceful_stop.save_checkpoint)')
        message = f'training stopped by {name} {where}: {then}{note}'
        runner.logger.warning(message)
        raise TrainingInterrupted(message, signum)


__all__ = [
    'GracefulStopHook', 'TrainingInterrupted', 'graceful_worker_init_fn'
]
