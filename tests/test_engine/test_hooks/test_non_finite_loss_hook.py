"""NonFiniteLossHook with FiniteLossOptimWrapper on a small real runner."""
import pytest
import torch

from bpfn.engine import (BPFNRunner, FiniteLossAmpOptimWrapper,
                         FiniteLossOptimWrapper, NonFiniteLossError,
                         NonFiniteLossGuard)
from bpfn.engine.launch import use_amp
from .toy_runner import toy_runner_cfg


def test_nan_loss_stops_with_iteration_and_sample_names(tmp_path):
    # Sample 5 holds NaN: batch 3 of epoch 1 (samples 4 and 5).
    runner = BPFNRunner(**toy_runner_cfg(
        str(tmp_path), bad=[5], custom_hooks=[dict(type='NonFiniteLossHook')]))
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    assert 'non-finite training loss (nan) at iteration 3, epoch 1, ' \
        'samples toy_004, toy_005' in message
    assert "optim_wrapper.non_finite='skip'" in message
    # The two finite steps were taken, the NaN one was not.
    assert torch.isfinite(runner.model.w).all()
    assert runner.iter == 2


def test_skip_drops_the_batch(tmp_path):
    runner = BPFNRunner(**toy_runner_cfg(
        str(tmp_path / 'skip'), bad=[5],
        custom_hooks=[dict(type='NonFiniteLossHook', action='skip')]))
    runner.train()
    wrapper = runner.optim_wrapper
    assert isinstance(wrapper, FiniteLossOptimWrapper)
    assert wrapper.non_finite == 'skip'
    assert wrapper.skipped_steps == 1
    assert torch.isfinite(runner.model.w).all()
    # Same weights as training on the three finite batches only: SGD on
    # w * x with x = idx + 1; the NaN batch changed nothing.
    w = torch.ones(3)
    for pair in ((1, 2), (3, 4), (7, 8)):
        x = torch.tensor([[v] * 3 for v in pair], dtype=torch.float32)
        grad = (2 * (x * w - 1) * x).mean(0) / 3
        w = w - 0.1 * grad
    torch.testing.assert_close(runner.model.w.detach(), w)


def test_amp_keeps_the_guard():
    cfg = dict(optim_wrapper=dict(type='FiniteLossOptimWrapper',
                                  non_finite='skip',
                                  optimizer=dict(type='Adam', lr=1e-3)))
    from mmengine.config import Config
    cfg = Config(cfg)
    use_amp(cfg)
    assert cfg.optim_wrapper.type == 'FiniteLossAmpOptimWrapper'
    assert cfg.optim_wrapper.non_finite == 'skip'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert issubclass(FiniteLossAmpOptimWrapper, NonFiniteLossGuard)
    other = Config(dict(optim_wrapper=dict(type='OptimWrapper',
                                           non_finite='raise')))
    use_amp(other)
    assert other.optim_wrapper.type == 'AmpOptimWrapper'
    assert 'non_finite' not in other.optim_wrapper


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='AmpOptimWrapper needs CUDA')
def test_amp_wrapper_raises_on_nan_cuda():
    model = torch.nn.Linear(2, 1).cuda()
    wrapper = FiniteLossAmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    loss = model(torch.tensor([[float('nan'), 1.0]]).cuda()).sum()
    with pytest.raises(NonFiniteLossError, match='non-finite training'):
        wrapper.update_params(loss)
