"""Crash safety: a SIGKILLed run resumes to the same weights."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from bpfn.utils import is_complete_checkpoint, load_checkpoint_file
from bpfn_test_utils import REPO, write_tiny_config

TRAIN = osp.join(REPO, 'tools', 'train.py')


def _train(config, work_dir, *extra, kill_at=None, env=None):
    full_env = dict(os.environ, OMP_NUM_THREADS='1')
    for name in ('BPFN_KILL_AT_ITER', 'BPFN_KILL_IN_SAVE',
                 'BPFN_SIGNAL_AT_ITER', 'SLURM_JOB_ID'):
        full_env.pop(name, None)
    if kill_at is not None:
        full_env['BPFN_KILL_AT_ITER'] = str(kill_at)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, TRAIN, config, '--work-dir', str(work_dir), *extra],
        env=full_env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """Config (3 epochs of 4 iterations) and its uninterrupted last
    checkpoint."""
    folder = tmp_path_factory.mktemp('uninterrupted')
    config = write_tiny_config(folder, epochs=3, nval=2)
    full = _train(config, folder / 'full')
    assert full.returncode == 0, full.stderr[-2000:]
    return config, load_checkpoint_file(str(folder / 'full' / 'epoch_3.pth'))


def _assert_same_weights(reference, path) -> None:
    other = load_checkpoint_file(str(path))
    assert reference['meta']['iter'] == other['meta']['iter'] == 12
    assert reference['meta']['epoch'] == other['meta']['epoch'] == 3
    assert set(reference['state_dict']) == set(other['state_dict'])
    for key, value in reference['state_dict'].items():
        assert torch.equal(value, other['state_dict'][key]), key
    # Adam's moments match too, not only the weights.
    for idx, state in reference['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(value, other['optimizer']['state'][idx][name])


def test_killed_run_resumes_to_identical_weights(tmp_path, uninterrupted):
    """Killed twice, once with a truncated newest checkpoint: same weights.

    4 iterations per epoch. The first kill is at iteration 7 (mid epoch 2,
    only epoch_1.pth written); the resumed run is killed again at
    iteration 10 (mid epoch 3) and its newest checkpoint epoch_2.pth is
    truncated, so the second resume must name it, skip it and go back to
    epoch_1.pth.
    """
    config, reference = uninterrupted

    work = tmp_path / 'killed'
    killed = _train(config, work, kill_at=7)
    assert killed.returncode == -9
    assert sorted(p for p in os.listdir(work)
                  if p.startswith('epoch_')) == ['epoch_1.pth']
    resumed = _train(config, work, '--resume', kill_at=10)
    assert resumed.returncode == -9
    log = resumed.stdout + resumed.stderr
    assert f'resuming from {work / "epoch_1.pth"}' in log
    assert 'resumed epoch: 1, iter: 4' in log
    assert sorted(p for p in os.listdir(work) if p.startswith('epoch_')) \
        == ['epoch_1.pth', 'epoch_2.pth']

    newest = work / 'epoch_2.pth'
    data = newest.read_bytes()
    newest.write_bytes(data[:len(data) // 3])
    resumed = _train(config, work, '--resume')
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    log = resumed.stdout + resumed.stderr
    assert f'checkpoint {newest} is truncated or corrupt; skipping it' in log
    assert f'resuming from {work / "epoch_1.pth"}' in log
    assert 'resumed epoch: 1, iter: 4' in log
    _assert_same_weights(reference, work / 'epoch_3.pth')
    assert not [p for p in os.listdir(work) if p.endswith('.tmp')]


def test_old_checkpoint_with_getattr_needs_unsafe_load(tmp_path):
    """A plain mmengine HistoryBuffer pickle is refused with a clear hint."""
    from mmengine.logging import HistoryBuffer

    from bpfn.utils import CheckpointError
    buffer = HistoryBuffer()
    buffer.update(1.0)
    path = tmp_path / 'old.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2)),
                    message_hub=dict(log_scalars=dict(loss=buffer))), path)
    with pytest.raises(CheckpointError, match='--unsafe-load'):
        load_checkpoint_file(str(path))
    loaded = load_checkpoint_file(str(path), allow_unsafe=True)
    assert loaded['message_hub']['log_scalars']['loss'].current() == 1.0


def test_resume_in_empty_work_dir_is_a_clear_error(tmp_path):
    config = write_tiny_config(tmp_path)
    (tmp_path / 'empty').mkdir()
    proc = _train(config, tmp_path / 'empty', '--resume')
    assert proc.returncode != 0
    assert 'is empty or missing, there is no checkpoint to resume' in \
        proc.stderr
    assert str(tmp_path / 'empty') in proc.stderr


def _names(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(('.pth',
                                                               '.tmp')))


def test_kill_during_saves_and_sigterm_keep_checkpoints_and_exactness(
        tmp_path, uninterrupted):
    """SIGKILL inside a checkpoint save (max_keep_ckpts=1), inside a new
    best save, then SIGTERM mid-epoch: a complete checkpoint and a best one
    always remain, and the run ends with the uninterrupted weights.

    The kill cuts the checkpoint's temp file to half, as an interrupted
    write leaves it, before it would be renamed into place.
    """
    config, reference = uninterrupted
    keep1 = ['--cfg-options', 'default_hooks.checkpoint.max_keep_ckpts=1']
    work = tmp_path / 'work'
    proc = _train(config, work, *keep1,
                  env=dict(BPFN_KILL_IN_SAVE='epoch_2.pth'))
    assert proc.returncode == -9
    tmp = [p for p in _names(work) if p.endswith('.tmp')]
    assert len(tmp) == 1 and tmp[0].startswith('.epoch_2.pth.')
    assert _names(work) == tmp + ['best_EPE3D_epoch_1.pth', 'epoch_1.pth']
    assert all(is_complete_checkpoint(str(work / p))
               for p in ('best_EPE3D_epoch_1.pth', 'epoch_1.pth'))
    assert (work / 'last_checkpoint').read_text() == 'epoch_1.pth'

    # Resumed; killed while the new best of epoch 2 is saved.
    proc = _train(config, work, '--resume', *keep1,
                  env=dict(BPFN_KILL_IN_SAVE='best_*'))
    assert proc.returncode == -9
    log = proc.stdout + proc.stderr
    assert 'taking over the stale lock' in log
    assert (f'removed 1 orphaned temporary file(s) of an earlier run in '
            f'{work}: {tmp[0]}') in log
    assert f'resuming from {work / "epoch_1.pth"}' in log
    tmp = [p for p in _names(work) if p.endswith('.tmp')]
    assert len(tmp) == 1 and tmp[0].startswith('.best_EPE3D_epoch_2.pth.')
    assert _names(work) == tmp + ['best_EPE3D_epoch_1.pth', 'epoch_2.pth']
    assert all(is_complete_checkpoint(str(work / p))
               for p in ('best_EPE3D_epoch_1.pth', 'epoch_2.pth'))

    # Resumed; SIGTERM at iteration 10 (epoch 3) under Slurm: a resumable
    # mid-epoch checkpoint is saved and the run exits with 128 + 15.
    proc = _train(config, work, '--resume', *keep1,
                  env=dict(BPFN_SIGNAL_AT_ITER='10', SLURM_JOB_ID='1234'))
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert ('stopped: training stopped by SIGTERM after iteration 10 (epoch '
            '3): saved the resumable checkpoint '
            f'{work / "epoch_2_iter_10.pth"}; --resume continues from the '
            'next batch') in proc.stderr
    assert _names(work) == ['best_EPE3D_epoch_1.pth', 'epoch_2.pth',
                            'epoch_2_iter_10.pth']
    assert (work / 'last_checkpoint').read_text() == 'epoch_2_iter_10.pth'
    assert not (work / 'train.lock').exists()

    proc = _train(config, work, '--resume', *keep1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    assert f'resuming from {work / "epoch_2_iter_10.pth"}' in log
    assert 'resuming epoch 3 after its first 2 batches' in log
    assert _names(work) == ['best_EPE3D_epoch_3.pth', 'epoch_3.pth']
    _assert_same_weights(reference, work / 'epoch_3.pth')
