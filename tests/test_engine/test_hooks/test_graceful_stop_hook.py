"""GracefulStopHook on a small real runner: SIGTERM / SIGINT stop training
at a safe point, optionally after a resumable mid-epoch checkpoint."""
import os
import signal

import pytest
import torch

from bpfn.engine import (BPFNRunner, GracefulStopHook, ResumableSampler,
                         TrainingInterrupted)
from bpfn.utils import load_checkpoint_file
from .toy_runner import toy_runner_cfg

SGD = dict(type='FiniteLossOptimWrapper', optimizer=dict(type='SGD',
                                                         lr=0.01))
# 8 samples, batches of 2: 4 iterations per epoch.
FAULTS = [dict(type='FaultInjectionHook')]


def _runner(work_dir, epochs=2, save=None, **extra):
    torch.manual_seed(0)  # the toy model's frozen layer is drawn at random
    cfg = toy_runner_cfg(str(work_dir), epochs=epochs, optim_wrapper=SGD,
                         custom_hooks=FAULTS, **extra)
    cfg['default_hooks']['graceful_stop'] = dict(type='GracefulStopHook',
                                                 save_checkpoint=save)
    return BPFNRunner(**cfg)


def test_sigterm_stops_after_the_iteration_and_restores_handlers(
        tmp_path, monkeypatch):
    monkeypatch.setenv('BPFN_SIGNAL_AT_ITER', '6')
    monkeypatch.delenv('SLURM_JOB_ID', raising=False)
    before = signal.getsignal(signal.SIGTERM)
    runner = _runner(tmp_path)
    with pytest.raises(TrainingInterrupted) as info:
        runner.train()
    assert info.value.exit_code == 143
    assert str(info.value) == (
        'training stopped by SIGTERM after iteration 6 (epoch 2): --resume '
        f'continues from the last checkpoint {tmp_path / "epoch_1.pth"} '
        '(saving one on a signal is off: '
        'default_hooks.graceful_stop.save_checkpoint)')
    # Iteration 6 was completed (its step taken), no other.
    assert runner.iter == 5 and runner.message_hub.get_info('iter') == 5
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['epoch_1.pth', 'last_checkpoint',
         *[n for n in os.listdir(tmp_path) if n.startswith('2')]])
    # The handlers are the ones found before training; the lock is gone.
    assert signal.getsignal(signal.SIGTERM) is before
    assert not (tmp_path / 'train.lock').exists()


def test_sigint_exit_code_and_slurm_default(tmp_path, monkeypatch):
    monkeypatch.setenv('BPFN_SIGNAL_AT_ITER', '2:SIGINT')
    monkeypatch.setenv('SLURM_JOB_ID', '4242')
    runner = _runner(tmp_path, epochs=1)
    hook = [h for h in runner.hooks if isinstance(h, GracefulStopHook)][0]
    assert hook.save_checkpoint  # on by default under Slurm
    with pytest.raises(TrainingInterrupted) as info:
        runner.train()
    assert info.value.exit_code == 130
    assert 'stopped by SIGINT after iteration 2 (epoch 1): saved the ' \
        f'resumable checkpoint {tmp_path / "epoch_0_iter_2.pth"}' in str(
            info.value)
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_0_iter_2.pth'
    monkeypatch.delenv('SLURM_JOB_ID')
    assert not GracefulStopHook().save_checkpoint
    with pytest.raises(ValueError, match="unknown signal 'SIGTREM'"):
        GracefulStopHook(signals=['SIGTREM'])


def test_a_second_signal_acts_at_once(tmp_path):
    # Python's own SIGINT handler beforehand, also where pytest was started
    # with SIGINT ignored (a background job of a shell, nohup).
    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        hook = GracefulStopHook(signals=['SIGINT'])
        hook.install()
        try:
            os.kill(os.getpid(), signal.SIGINT)  # first: a flag only
            assert hook.received == signal.SIGINT
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                signal.sigtimedwait([], 0)  # let the handler run
        finally:
            hook.restore()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, started_with)


def test_mid_epoch_checkpoint_resumes_to_identical_weights(
        tmp_path, monkeypatch):
    monkeypatch.delenv('BPFN_SIGNAL_AT_ITER', raising=False)
    full = _runner(tmp_path / 'full', epochs=2)
    assert isinstance(full.train_dataloader.sampler, ResumableSampler)
    full.train()
    reference = load_checkpoint_file(str(tmp_path / 'full' / 'epoch_2.pth'))

    monkeypatch.setenv('BPFN_SIGNAL_AT_ITER', '6')
    work = tmp_path / 'stopped'
    with pytest.raises(TrainingInterrupted):
        _runner(work, epochs=2, save=True).train()
    saved = load_checkpoint_file(str(work / 'epoch_1_iter_6.pth'))
    assert saved['meta']['epoch'] == 1 and saved['meta']['iter'] == 6
    assert saved['meta']['epoch_batches'] == 2

    monkeypatch.delenv('BPFN_SIGNAL_AT_ITER')
    resumed = _runner(work, epochs=2, resume=True)
    resumed.train()
    assert resumed.iter == 8
    final = load_checkpoint_file(str(work / 'epoch_2.pth'))
    for key, value in reference['state_dict'].items():
        assert torch.equal(final['state_dict'][key], value), key
    # The mid-epoch file was superseded by epoch_2.pth and removed.
    assert not (work / 'epoch_1_iter_6.pth').exists()
    # Without the skip, epoch 2 would have trained on batches 1-2 twice.
    assert final['meta']['iter'] == reference['meta']['iter'] == 8


def test_signal_during_validation_stops_without_a_new_checkpoint(tmp_path):
    runner = _runner(tmp_path, epochs=1, save=True)
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, GracefulStopHook)][0]
    hook.install()
    try:
        hook.received = signal.SIGTERM
        with pytest.raises(TrainingInterrupted) as info:
            hook.after_val_iter(runner, 0)
    finally:
        hook.restore()
    assert str(info.value) == (
        'training stopped by SIGTERM during the validation after epoch 1: '
        '--resume continues from the last checkpoint '
        f'{tmp_path / "epoch_1.pth"}')
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == [
        'epoch_1.pth']
