"""A summary of the training run at its end: best score, time, files."""
import os.path as osp
import time
from typing import Optional

from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from bpfn.registry import HOOKS
from bpfn.utils.checkpoint import BEST_NAME, read_last_checkpoint

__all__ = ['TrainingSummaryHook']


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds} s'
    if seconds < 3600:
        return f'{seconds // 60} min {seconds % 60} s'
    return f'{seconds // 3600} h {seconds // 60 % 60} min'


def _count(number: int, unit: str) -> str:
    return f'{number} {unit}' + ('' if number == 1 else 's')


@HOOKS.register_module()
class TrainingSummaryHook(Hook):
    """Log a summary when training ends (console and log file).

    The best validation score of ``metric`` and its epoch (or iteration),
    the wall time of this run, and the paths of the best checkpoint (the
    checkpoint hook's ``save_best`` file) and the last one (the
    ``last_checkpoint`` pointer). The best score is the checkpoint hook's
    (message hub ``best_score``, which a resumed run keeps) when it tracks
    ``metric``, else the best this hook saw.

    Example::

        Training finished in 3 min 12 s (10 epochs, 500 iterations)
          best EPE3D: 0.3203 at epoch 9
          best checkpoint: work_dirs/bpfn_synthetic/best_EPE3D_epoch_9.pth
          last checkpoint: work_dirs/bpfn_synthetic/epoch_10.pth

    Args:
        metric (str): Validation metric to report. Defaults to 'EPE3D'.
        rule (str): ``'less'`` or ``'greater'`` is better. Defaults to
            'less'.
    """

    priority = 'VERY_LOW'

    def __init__(self, metric: str = 'EPE3D', rule: str = 'less') -> None:
        if rule not in ('less', 'greater'):
            raise ValueError(f"rule must be 'less' or 'greater', got {rule!r}")
        self.metric = metric
        self.rule = rule
        self._start: Optional[float] = None
        self._best: Optional[float] = None
        self._best_at: Optional[str] = None

    def before_train(self, runner) -> None:
        """Start the clock."""
        self._start = time.perf_counter()
        self._best, self._best_at = None, None

    def _unit(self, runner) -> str:
        by_iter = isinstance(runner.train_loop, IterBasedTrainLoop)
        return (f'iteration {runner.iter}' if by_iter else
                f'epoch {runner.epoch}')

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Keep the best score of the metric and when it was reached."""
        value = (metrics or {}).get(self.metric)
        if value is None:
            return
        value = float(value)
        if self._best is None or (value < self._best if self.rule == 'less'
                                  else value > self._best):
            self._best, self._best_at = value, self._unit(runner)

    def summary(self, runner) -> str:
        """The summary's lines (see the class docstring)."""
        hub = runner.message_hub
        elapsed = time.perf_counter() - (self._start or time.perf_counter())
        lines = [f'Training finished in {_duration(elapsed)} '
                 f'({_count(runner.epoch, "epoch")}, '
                 f'{_count(runner.iter, "iteration")})']
        key = self.metric.replace('/', '_')
        best_ckpt = hub.get_info(f'best_ckpt_{self.metric}') or \
            hub.get_info('best_ckpt')
        match = BEST_NAME.match(osp.basename(best_ckpt)) if best_ckpt \
            else None
        best, best_at = self._best, self._best_at
        if match is not None and match.group('key') == key:
            score = hub.get_info(f'best_score_{self.metric}',
                                 hub.get_info('best_score'))
            if score is not None:
                best = float(score)
                kind = 'epoch' if match.group('kind') == 'epoch' \
                    else 'iteration'
                best_at = f'{kind} {match.group("num")}'
        if best is None:
            lines.append(f'  best {self.metric}: none (no validation '
                         f'reported {self.metric})')
        else:
            lines.append(f'  best {self.metric}: {best:.4f} at {best_at}')
        lines.append('  best checkpoint: '
                     + (best_ckpt or 'none (no save_best)'))
        last = read_last_checkpoint(runner.work_dir)
        lines.append(f'  last checkpoint: {last or "none"}')
        return '\n'.join(lines)

    def after_train(self, runner) -> None:
        """Log the summary."""
        runner.logger.info(self.summary(runner))
