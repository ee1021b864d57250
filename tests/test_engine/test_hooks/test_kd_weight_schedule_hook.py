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
