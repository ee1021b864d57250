"""Schedules of the distillation loss weights."""
import math
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from bpfn.registry import HOOKS

__all__ = ['KDWeightScheduleHook', 'kd_weight_factor']

_SCHEDULES = ('constant', 'linear', 'cosine', 'step')


def kd_weight_factor(schedule: str, progress: int, begin: int, end: int,
                     min_factor: float = 0.0) -> float:
    """Multiplier of the configured KD weights at ``progress``.

    Args:
        schedule (str): ``'constant'`` (1), ``'linear'`` or ``'cosine'``
            (decay from 1 at ``begin`` to ``min_factor`` at ``end``), or
            ``'step'`` (1 before ``end``, 0 from ``end`` on: early-stop KD).
        progress (int): Current epoch or iteration (0-based).
        begin (int): Start of the decay.
        end (int): End of the decay, or the step of ``'step'``.
        min_factor (float): Factor at the end of a decay. Defaults to 0.

    Returns:
        float: The factor.
    """
    if schedule == 'constant':
        return 1.0
    if schedule == 'step':
        return 1.0 if progress < end else 0.0
    t = min(max((progress - begin) / max(end - begin, 1), 0.0), 1.0)
    if schedule == 'linear':
        return 1.0 - (1.0 - min_factor) * t
    if schedule == 'cosine':
        return min_factor + (1.0 - min_factor) * 0.5 * (1 + math.cos(
            math.pi * t))
    raise ValueError(f'KDWeightScheduleHook: schedule must be one of '
                     f'{_SCHEDULES}, got {schedule!r}')


@HOOKS.register_module()
class KDWeightScheduleHook(Hook):
    """Scale every distillation loss weight of a distiller over training.

    The configured ``loss_weight`` of each entry of
    ``model.distill_losses`` is multiplied by :func:`kd_weight_factor`
    before every epoch (``by_epoch=True``) or iteration, and the factor is
    logged as the scalar ``train/kd_weight`` (1.0 = configured weights).

    Args:
        schedule (str): ``'constant'``, ``'linear'``, ``'cosine'`` or
            ``'step'``. Defaults to ``'constant'``.
        begin (int): Epoch/iteration where a decay starts. Defaults to 0.
        end (int, optional): Where a decay ends, or the epoch/iteration from
            which ``'step'`` switches KD off. Defaults to the end of
            training.
        min_factor (float): Final factor of a decay. Defaults to 0.
        by_epoch (bool): Count epochs (else iterations). Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self,
                 schedule: str = 'constant',
                 begin: int = 0,
                 end: Optional[int] = None,
                 min_factor: float = 0.0,
                 by_epoch: bool = True) -> None:
        if schedule not in _SCHEDULES:
            raise ValueError(f'KDWeightScheduleHook: schedule must be one of '
                             f'{_SCHEDULES}, got {schedule!r}')
        if schedule == 'step' and end is None:
            raise ValueError("KDWeightScheduleHook: schedule='step' needs "
                             'end, the epoch where KD stops')
        self.schedule = schedule
        self.begin = begin
        self.end = end
        self.min_factor = min_factor
        self.by_epoch = by_epoch
        self.base_weights: Dict[int, float] = {}
        self.factor = 1.0

    @staticmethod
    def _distiller(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'distill_losses'):
            raise TypeError('KDWeightScheduleHook needs a distiller model '
                            '(with distill_losses), got '
                            f'{type(model).__name__}')
        return model

    def before_train(self, runner) -> None:
        """Remember the configured weights."""
        model = self._distiller(runner)
        self.base_weights = {
            i: float(loss.loss_weight)
            for i, loss in enumerate(model.distill_losses)
        }

    def _apply(self, runner, progress: int) -> None:
        end = self.end
        if end is None:
            end = runner.max_epochs if self.by_epoch else runner.max_iters
        self.factor = kd_weight_factor(self.schedule, progress, self.begin,
                                       end, self.min_factor)
        for i, loss in enumerate(self._distiller(runner).distill_losses):
            loss.loss_weight = self.base_weights[i] * self.factor

    def before_train_epoch(self, runner) -> None:
        """Epoch-based update."""
        if self.by_epoch:
            self._apply(runner, runner.epoch)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Iteration-based update, and logging of the factor."""
        if not self.by_epoch:
            self._apply(runner, runner.iter)
        runner.message_hub.update_scalar('train/kd_weight', self.factor)
