import pytest
import torch
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn

from bpfn.engine.hooks import KDWeightScheduleHook, kd_weight_factor
from bpfn.models.losses import HintLoss, OutputKDLoss


class ToyDistiller(BaseModel):
    """A linear model with two distill losses, enough for the hook."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.distill_losses = nn.ModuleList(
            [HintLoss(loss_weight=0.3), OutputKDLoss(loss_weight=0.6)])
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.seen.append([l.loss_weight for l in self.distill_losses])
        return dict(loss=self.linear(inputs).pow(2).mean())


def test_kd_weight_factor_values():
    assert kd_weight_factor('constant', 5, 0, 10) == 1.0
    assert kd_weight_factor('linear', 5, 0, 10) == pytest.approx(0.5)
    assert kd_weight_factor('cosine', 5, 0, 10) == pytest.approx(0.5)
    assert kd_weight_factor('cosine', 10, 0, 10) == pytest.approx(0.0)
    assert kd_weight_factor('linear', 10, 0, 10, 0.2) == pytest.approx(0.2)
    assert kd_weight_factor('step', 2, 0, 3) == 1.0
    assert kd_weight_factor('step', 3, 0, 3) == 0.0
    with pytest.raises(ValueError, match='schedule'):
        KDWeightScheduleHook(schedule='exp')
    with pytest.raises(ValueError, match='end'):
        KDWeightScheduleHook(schedule='step')


@pytest.mark.parametrize('schedule,expected', [
    ('step', [1.0, 1.0, 0.0, 0.0]),
    ('linear', [1.0, 0.75, 0.5, 0.25]),
])
def test_hook_in_runner(tmp_path, schedule, expected):
    init_default_scope('bpfn')
    model = ToyDistiller()
    data = [dict(inputs=torch.ones(2)) for _ in range(2)]
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=dict(dataset=data, batch_size=2,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=4),
        custom_hooks=[dict(type='KDWeightScheduleHook', schedule=schedule,
                           end=2 if schedule == 'step' else None)],
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='bpfn')
    runner.train()
    factors = [w[0] / 0.3 for w in model.seen]
    assert factors == pytest.approx(expected)
    assert [w[1] / 0.6 for w in model.seen] == pytest.approx(expected)
    logged = runner.message_hub.get_scalar('train/kd_weight')
    assert logged.current() == pytest.approx(expected[-1])


def _teacher_val_epe(runner) -> float:
    """The teacher's val EPE3D, evaluated as the val loop evaluates."""
    from bpfn.evaluation import SceneFlowMetric
    metric = SceneFlowMetric()
    teacher = runner.model.teacher
    for data in runner.val_loop.dataloader:
        with torch.no_grad():
            metric.process(data, teacher.val_step(data))
    return metric.compute_metrics(metric.results)['EPE3D']


def test_early_stop_when_the_student_catches_up(tmp_path, monkeypatch):
    from mmengine.config import Config

    from bpfn.engine import BPFNRunner
    from .kd_runner import kd_runner_cfg, save_teacher
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    work = str(tmp_path / 'work')
    # A margin so wide that the student is within it after epoch 1.
    margin = 1000.0
    hook = dict(type='KDWeightScheduleHook', stop_margin=margin,
                margin_mode='relative')
    runner = BPFNRunner.from_cfg(Config(kd_runner_cfg(
        work, teacher, epochs=2, hooks=[hook])))
    weights = []

    def record(module, args, kwargs):  # the training steps' weights
        if kwargs.get('mode') == 'loss':
            weights.append(module.distill_losses[0].loss_weight)

    runner.model.register_forward_pre_hook(record, with_kwargs=True)
    runner.train()
    schedule = [h for h in runner.hooks
                if isinstance(h, KDWeightScheduleHook)][0]
    # The teacher's val EPE3D, measured once before training.
    assert schedule.teacher_metric == pytest.approx(
        _teacher_val_epe(runner), rel=1e-6)
    epe1 = runner.message_hub.get_scalar('val/EPE3D').data[0][0]
    threshold = schedule.teacher_metric * (1 + margin)
    assert schedule.threshold == pytest.approx(threshold)
    # Caught up after epoch 1: KD off in epoch 2 (2 steps an epoch).
    assert epe1 <= threshold
    assert schedule.stopped_epoch == 1
    assert weights[:4] == [0.3, 0.3, 0.0, 0.0]

    # Resuming from epoch 1: the teacher is not measured again and the stop
    # decided after the epoch-1 checkpoint is kept.
    monkeypatch.setattr(KDWeightScheduleHook, 'measure_teacher',
                        lambda *a: pytest.fail('measured the teacher again'))
    cfg = kd_runner_cfg(work, teacher, epochs=3, hooks=[hook],
                        resume=True, load_from=f'{work}/epoch_1.pth')
    resumed = BPFNRunner.from_cfg(Config(cfg))
    resumed.train()
    again = [h for h in resumed.hooks
             if isinstance(h, KDWeightScheduleHook)][0]
    assert again.teacher_metric == schedule.teacher_metric
    assert again.stopped_epoch == 1
    assert all(loss.loss_weight == 0.0
               for loss in resumed.model.distill_losses)


def test_early_stop_threshold():
    relative = KDWeightScheduleHook(stop_margin=0.1)
    absolute = KDWeightScheduleHook(stop_margin=0.1, margin_mode='absolute')
    assert relative.threshold is None  # the teacher is not measured yet
    relative.teacher_metric = absolute.teacher_metric = 0.2
    assert relative.threshold == pytest.approx(0.22)
    assert absolute.threshold == pytest.approx(0.3)


def test_early_stop_needs_a_valid_margin():
    with pytest.raises(ValueError, match='margin_mode'):
        KDWeightScheduleHook(stop_margin=0.1, margin_mode='percent')
    with pytest.raises(ValueError, match='stop_margin'):
        KDWeightScheduleHook(stop_margin=-0.1)
