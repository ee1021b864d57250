"""SafeCheckpointHook on a small real runner: retention that cannot lose
the last good checkpoint, an atomic relative pointer, orphan clean-up."""
import os

import pytest
from mmengine.hooks import Hook

from bpfn.engine import BPFNRunner, SafeCheckpointHook
from bpfn.utils import (find_latest_checkpoint, is_complete_checkpoint,
                        load_checkpoint_file)
from .toy_runner import toy_runner_cfg

SGD = dict(type='FiniteLossOptimWrapper', optimizer=dict(type='SGD',
                                                         lr=0.01))


class _FailSave(Hook):
    """Raise after the temp file of a matching checkpoint is written."""

    def __init__(self, name: str) -> None:
        self.name = name

    def after_write_checkpoint(self, runner, tmp_path, filepath) -> None:
        if os.path.basename(filepath) == self.name:
            assert os.path.isfile(tmp_path)
            raise OSError(f'injected failure while saving {self.name}')


def _runner(work_dir, epochs=1, hooks=None, **checkpoint):
    cfg = toy_runner_cfg(str(work_dir), epochs=epochs, optim_wrapper=SGD,
                         custom_hooks=hooks or [])
    cfg['default_hooks']['checkpoint'].update(checkpoint)
    return BPFNRunner(**cfg)


def _files(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(('.pth',
                                                               '.tmp')))


def test_checkpoint_hook_is_the_safe_one_and_pointer_is_relative(tmp_path):
    runner = _runner(tmp_path, epochs=3, max_keep_ckpts=2)
    hook = [h for h in runner.hooks if isinstance(h, SafeCheckpointHook)]
    assert len(hook) == 1 and type(hook[0]) is SafeCheckpointHook
    runner.train()
    assert _files(tmp_path) == ['epoch_2.pth', 'epoch_3.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_3.pth'
    assert all(is_complete_checkpoint(str(tmp_path / n))
               for n in _files(tmp_path))
    # No temp file of the pointer or of a checkpoint is left.
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]


def test_failed_save_keeps_the_previous_checkpoint(tmp_path):
    """max_keep_ckpts=1: epoch_1.pth survives a failure saving epoch_2."""
    runner = _runner(tmp_path, epochs=2, hooks=[_FailSave('epoch_2.pth')],
                     max_keep_ckpts=1)
    with pytest.raises(OSError, match='injected failure while saving '
                       'epoch_2.pth'):
        runner.train()
    assert _files(tmp_path) == ['epoch_1.pth']
    assert is_complete_checkpoint(str(tmp_path / 'epoch_1.pth'))
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_1.pth'
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_1.pth')


def test_orphaned_temp_files_are_removed_at_start_with_a_log_line(
        tmp_path, capsys):
    (tmp_path / '.epoch_2.pth.4242.tmp').write_bytes(b'PK\x03\x04half')
    (tmp_path / '.last_checkpoint.abc_12.tmp').write_text('epoch_')
    (tmp_path / 'notes.tmp').write_text('kept: not a bpfn temp file')
    (tmp_path / '.results.json.x1.tmp').write_text('kept: not a checkpoint')
    runner = _runner(tmp_path)
    runner.train()
    log = capsys.readouterr().out
    assert (f'removed 2 orphaned temporary file(s) of an earlier run in '
            f'{tmp_path}: .epoch_2.pth.4242.tmp, '
            '.last_checkpoint.abc_12.tmp') in log
    assert sorted(n for n in os.listdir(tmp_path) if 'tmp' in n) == [
        '.results.json.x1.tmp', 'notes.tmp']


class _Metric(Hook):
    """Report a chosen validation score after each epoch, as the val loop
    would (``runner.epoch`` counts the finished epochs then)."""

    def __init__(self, scores, fail_best=None) -> None:
        self.scores = scores
        self.fail_best = fail_best

    def _report(self, runner) -> None:
        hook = [h for h in runner.hooks
                if isinstance(h, SafeCheckpointHook)][0]
        hook.after_val_epoch(runner,
                             dict(EPE3D=self.scores[runner.epoch - 1]))

    def before_train_epoch(self, runner) -> None:
        if runner.epoch > 0:
            self._report(runner)

    def after_train(self, runner) -> None:
        self._report(runner)

    def after_write_checkpoint(self, runner, tmp_path, filepath) -> None:
        if os.path.basename(filepath) == self.fail_best:
            raise OSError(f'injected failure while saving {self.fail_best}')


def test_previous_best_is_removed_only_after_the_new_one(tmp_path):
    # Epochs 1-3 score 3, 2, 2.5 (lower is better): the best moves to
    # epoch 2 and stays there.
    runner = _runner(tmp_path, epochs=3, hooks=[_Metric([3.0, 2.0, 2.5])],
                     save_best='EPE3D', rule='less', max_keep_ckpts=1)
    runner.train()
    assert _files(tmp_path) == ['best_EPE3D_epoch_2.pth', 'epoch_3.pth']
    ckpt = load_checkpoint_file(str(tmp_path / 'epoch_3.pth'))
    assert ckpt['message_hub']['runtime_info']['best_ckpt'] == str(
        tmp_path / 'best_EPE3D_epoch_2.pth')

    # A failure while the new best (epoch 2) is saved: the epoch-1 best
    # stays, complete.
    work = tmp_path / 'fail'
    runner = _runner(work, epochs=2,
                     hooks=[_Metric([3.0, 2.0], 'best_EPE3D_epoch_2.pth')],
                     save_best='EPE3D', rule='less', max_keep_ckpts=1)
    with pytest.raises(OSError, match='best_EPE3D_epoch_2.pth'):
        runner.train()
    assert _files(work) == ['best_EPE3D_epoch_1.pth', 'epoch_2.pth']
    assert all(is_complete_checkpoint(str(work / n)) for n in _files(work))
