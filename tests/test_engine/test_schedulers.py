"""Tests of bpfn/engine/schedulers.py and the schedule config."""
import bisect
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner.utils import calc_dynamic_intervals

from bpfn.engine import ClampedStepLR

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_clamped_step_lr_matches_original_recipe():
    param = torch.nn.Parameter(torch.zeros(1))
    optim = torch.optim.Adam([param], lr=1e-3)
    sched = ClampedStepLR(optim, step_size=80, gamma=0.5, min_lr=1e-5)
    lrs = []
    for _ in range(560):
        lrs.append(optim.param_groups[0]['lr'])
        optim.step()
        sched.step()
    for epoch in (0, 79, 80, 160, 479, 480, 559):
        expected = max(1e-3 * 0.5**(epoch // 80), 1e-5)
        assert abs(lrs[epoch] - expected) < 1e-12, epoch
    assert lrs[559] == 1e-3 / 64  # the floor is not reached in 560 epochs
    sched = ClampedStepLR(optim, step_size=1, gamma=0.01, min_lr=1e-5)
    for _ in range(3):
        optim.step()
        sched.step()
    assert optim.param_groups[0]['lr'] == 1e-5


def test_validation_epochs_of_the_schedule():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/_base_/schedules/adam_560e.py'))
    train = cfg.train_cfg
    milestones, intervals = calc_dynamic_intervals(
        train.val_interval, train.dynamic_intervals)
    validated = []
    for epoch in range(1, train.max_epochs + 1):  # as EpochBasedTrainLoop
        interval = intervals[bisect.bisect(milestones, epoch + 1) - 1]
        if epoch % interval == 0 or epoch == train.max_epochs:
            validated.append(epoch)
    expected = list(range(1, 21)) + list(range(25, 421, 5)) + list(
        range(421, 561))
    assert validated == expected
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
