"""FitNetsStageHook in a small real runner: hints first, then GT + KD."""
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from bpfn.engine import BPFNRunner
from .kd_runner import kd_runner_cfg, save_teacher


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_hint_stage_then_gt_and_kd(tmp_path):
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    cfg = kd_runner_cfg(str(tmp_path / 'work'), teacher, epochs=2,
                        hooks=[dict(type='FitNetsStageHook', hint_epochs=1)])
    cfg['optim_wrapper'] = dict(
        optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-4))
    runner = BPFNRunner.from_cfg(Config(cfg))
    seen = []
    start = _params(runner.model.student)

    class ProbeHook(Hook):
        """Record the losses of every step and the weights after epoch 1."""

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            seen.append((runner.epoch, float(outputs['loss_gt'].detach()),
                         float(outputs['loss_hint0'].detach())))

        def after_train_epoch(self, runner):
            if runner.epoch == 0:  # the end of epoch 1
                self.after_stage1 = _params(runner.model.student)

    probe = ProbeHook()
    runner.register_hook(probe, 'LOWEST')
    runner.train()
    stage1 = [s for s in seen if s[0] == 0]
    stage2 = [s for s in seen if s[0] == 1]
    assert stage1 and stage2
    assert all(gt == 0.0 and hint > 0 for _, gt, hint in stage1)
    assert all(gt > 0 and hint > 0 for _, gt, hint in stage2)
    # Stage 1 trained the layers below the guided one only: the level-0
    # estimator (computed after cross2) is exactly as initialised, even with
    # weight decay; the encoder moved.
    after = probe.after_stage1
    assert torch.equal(after['flow0.fc.weight'], start['flow0.fc.weight'])
    assert not torch.equal(after['level1.linear.weight'],
                           start['level1.linear.weight'])
    final = _params(runner.model.student)
    assert not torch.equal(final['flow0.fc.weight'],
                           start['flow0.fc.weight'])


def test_refuses_without_feature_losses(tmp_path):
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    cfg = kd_runner_cfg(str(tmp_path / 'work'), teacher,
                        losses=[dict(type='OutputKDLoss')],
                        hooks=[dict(type='FitNetsStageHook', hint_epochs=1)])
    with pytest.raises(ValueError, match='needs a feature loss'):
        BPFNRunner.from_cfg(Config(cfg)).train()
