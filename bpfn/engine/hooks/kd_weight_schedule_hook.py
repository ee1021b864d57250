"""Schedules of the distillation loss weights, and early-stop KD."""
import json
import math
import os
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from bpfn.registry import HOOKS
from bpfn.utils.fileio import atomic_write_json
from .kd_hook_utils import rng_neutral, unwrap_distiller

__all__ = ['KDWeightScheduleHook', 'kd_weight_factor']

_SCHEDULES = ('constant', 'linear', 'cosine', 'step')
_MARGIN_MODES = ('relative', 'absolute')
#: Checkpoint ``meta`` entry of the early-stop state.
EARLY_STOP_KEY = 'kd_early_stop'


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

    Early stop on catching up (``stop_margin``): the teacher's validation
    ``metric`` (EPE3D) is measured once before the first epoch, on the
    validation split with the validation evaluator, and logged. After every
    validation, once the student's value is within the margin of the
    teacher's (``student <= teacher * (1 + stop_margin)`` with
    ``margin_mode='relative'``, ``student <= teacher + stop_margin`` with
    ``'absolute'``), the factor is 0 for the rest of training (the teacher
    is then not run at all). The teacher's value and the epoch of the stop
    are kept in the checkpoints and in ``kd_early_stop.json`` in the work
    dir (the stop is decided after the epoch's checkpoint is written), so a
    resumed run neither measures the teacher again nor forgets the stop.

    Args:
        schedule (str): ``'constant'``, ``'linear'``, ``'cosine'`` or
            ``'step'``. Defaults to ``'constant'``.
        begin (int): Epoch/iteration where a decay starts. Defaults to 0.
        end (int, optional): Where a decay ends, or the epoch/iteration from
            which ``'step'`` switches KD off. Defaults to the end of
            training.
        min_factor (float): Final factor of a decay. Defaults to 0.
        by_epoch (bool): Count epochs (else iterations). Defaults to True.
        stop_margin (float, optional): Switch KD off once the student's
            validation metric is within this margin of the teacher's.
            Defaults to None (no early stop on catching up).
        margin_mode (str): ``'relative'`` or ``'absolute'``.
            Defaults to ``'relative'``.
        metric (str): Validation metric, lower is better.
            Defaults to ``'EPE3D'``.
    """

    priority = 'NORMAL'
    state_file = 'kd_early_stop.json'

    def __init__(self,
                 schedule: str = 'constant',
                 begin: int = 0,
                 end: Optional[int] = None,
                 min_factor: float = 0.0,
                 by_epoch: bool = True,
                 stop_margin: Optional[float] = None,
                 margin_mode: str = 'relative',
                 metric: str = 'EPE3D') -> None:
        if schedule not in _SCHEDULES:
            raise ValueError(f'KDWeightScheduleHook: schedule must be one of '
                             f'{_SCHEDULES}, got {schedule!r}')
        if schedule == 'step' and end is None:
            raise ValueError("KDWeightScheduleHook: schedule='step' needs "
                             'end, the epoch where KD stops')
        if margin_mode not in _MARGIN_MODES:
            raise ValueError(f'KDWeightScheduleHook: margin_mode must be one '
                             f'of {_MARGIN_MODES}, got {margin_mode!r}')
        if stop_margin is not None and not stop_margin >= 0:
            raise ValueError('KDWeightScheduleHook: stop_margin must be >= 0, '
                             f'got {stop_margin}')
        self.schedule = schedule
        self.begin = begin
        self.end = end
        self.min_factor = min_factor
        self.by_epoch = by_epoch
        self.stop_margin = stop_margin
        self.margin_mode = margin_mode
        self.metric = metric
        self.base_weights: Dict[int, float] = {}
        self.factor = 1.0
        #: The teacher's validation metric (early stop only).
        self.teacher_metric: Optional[float] = None
        #: Epochs completed when KD was switched off, or None.
        self.stopped_epoch: Optional[int] = None
        self._loaded: Optional[dict] = None

    # ------------------------------------------------------------------
    @property
    def threshold(self) -> Optional[float]:
        """The student's metric at or below which KD is switched off."""
        if self.stop_margin is None or self.teacher_metric is None:
            return None
        if self.margin_mode == 'relative':
            return self.teacher_metric * (1.0 + self.stop_margin)
        return self.teacher_metric + self.stop_margin

    def _state(self) -> dict:
        return dict(teacher_metric=self.teacher_metric,
                    stopped_epoch=self.stopped_epoch, metric=self.metric)

    def _save_state(self, runner) -> None:
        if is_main_process():
            os.makedirs(runner.work_dir, exist_ok=True)
            atomic_write_json(self._state(),
                              osp.join(runner.work_dir, self.state_file))

    @torch.no_grad()
    def measure_teacher(self, runner) -> float:
        """The teacher's validation metric (the student's val loop data).

        Args:
            runner: The runner.

        Returns:
            float: The metric.
        """
        distiller = unwrap_distiller(runner, 'KDWeightScheduleHook')
        try:
            loop = runner.val_loop
        except RuntimeError as exc:
            raise RuntimeError(
                'KDWeightScheduleHook(stop_margin=...) compares the student '
                "with the teacher on the validation split: set "
                'val_dataloader, val_evaluator and val_cfg') from exc
        with rng_neutral():
            for data in loop.dataloader:
                outputs = distiller.teacher_val_step(data)
                loop.evaluator.process(data_samples=outputs, data_batch=data)
            metrics = loop.evaluator.evaluate(len(loop.dataloader.dataset))
        return float(self._metric(metrics))

    def _metric(self, metrics: dict) -> float:
        if self.metric not in metrics:
            raise KeyError(f'KDWeightScheduleHook: no validation metric '
                           f'{self.metric!r}; the evaluator gives '
                           f'{sorted(metrics)}')
        return float(metrics[self.metric])

    # ------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the early-stop state of the checkpoint."""
        self._loaded = (checkpoint.get('meta') or {}).get(EARLY_STOP_KEY)

    def before_train(self, runner) -> None:
        """Remember the configured weights; measure the teacher (once)."""
        model = unwrap_distiller(runner, 'KDWeightScheduleHook')
        self.base_weights = {
            i: float(loss.loss_weight)
            for i, loss in enumerate(model.distill_losses)
        }
        if self.stop_margin is None:
            return
        resumed = runner.epoch > 0 or runner.iter > 0
        state = self._loaded if resumed and isinstance(self._loaded,
                                                       dict) else None
        path = osp.join(runner.work_dir, self.state_file)
        if resumed and osp.isfile(path):
            # A stop decided after the resumed checkpoint was written.
            with open(path) as f:
                saved = json.load(f)
            stopped = saved.get('stopped_epoch')
            if stopped is not None and stopped <= runner.epoch and (
                    state is None or state.get('stopped_epoch') is None):
                state = saved
        if state is not None and state.get('teacher_metric') is not None:
            self.teacher_metric = float(state['teacher_metric'])
            self.stopped_epoch = state.get('stopped_epoch')
            source = 'kept from the run being resumed'
        else:
            self.teacher_metric = self.measure_teacher(runner)
            self.stopped_epoch = None
            source = 'measured on the validation split'
            self._save_state(runner)
        runner.message_hub.update_info('kd_teacher_val_metric',
                                       self.teacher_metric)
        runner.logger.info(
            f'KDWeightScheduleHook: teacher val {self.metric} '
            f'{self.teacher_metric:.4f} ({source}); KD switches off once the '
            f"student's is <= {self.threshold:.4f} (margin {self.stop_margin}"
            f', {self.margin_mode})'
            + ('' if self.stopped_epoch is None else
               f'; KD has been off since epoch {self.stopped_epoch + 1}'))

    def _apply(self, runner, progress: int) -> None:
        end = self.end
        if end is None:
            end = runner.max_epochs if self.by_epoch else runner.max_iters
        self.factor = kd_weight_factor(self.schedule, progress, self.begin,
                                       end, self.min_factor)
        if self.stopped_epoch is not None:
            self.factor = 0.0
        distiller = unwrap_distiller(runner, 'KDWeightScheduleHook')
        for i, loss in enumerate(distiller.distill_losses):
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

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Switch KD off once the student is within the margin."""
        if (self.stop_margin is None or self.stopped_epoch is not None
                or self.teacher_metric is None or not metrics):
            return
        value = self._metric(metrics)
        if value > self.threshold:
            return
        self.stopped_epoch = runner.epoch
        self._apply(runner, runner.epoch if self.by_epoch else runner.iter)
        self._save_state(runner)
        runner.logger.info(
            f'KDWeightScheduleHook: student val {self.metric} {value:.4f} '
            f'is within the margin of the teacher\'s '
            f'{self.teacher_metric:.4f} (<= {self.threshold:.4f}): KD is '
            f'off from epoch {runner.epoch + 1} on')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the early-stop state in the checkpoint's meta."""
        if self.stop_margin is not None:
            checkpoint.setdefault('meta', {})[EARLY_STOP_KEY] = self._state()
