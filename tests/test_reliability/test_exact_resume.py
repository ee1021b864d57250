"""Crash safety: a SIGKILLed run resumes to the same weights."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from bpfn.utils import load_checkpoint_file
from bpfn_test_utils import REPO, write_tiny_config

TRAIN = osp.join(REPO, 'tools', 'train.py')


def _train(config, work_dir, *extra, kill_at=None):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('BPFN_KILL_AT_ITER', None)
    if kill_at is not None:
        env['BPFN_KILL_AT_ITER'] = str(kill_at)
    return subprocess.run(
        [sys.executable, TRAIN, config, '--work-dir', str(work_dir), *extra],
        env=env, capture_output=True, text=True, timeout=240)


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


def test_killed_run_resumes_to_identical_weights(tmp_path):
    """Killed twice, once with a truncated newest checkpoint: same weights.

    4 iterations per epoch. The first kill is at iteration 7 (mid epoch 2,
    only epoch_1.pth written); the resumed run is killed again at
    iteration 10 (mid epoch 3) and its newest checkpoint epoch_2.pth is
    truncated, so the second resume must name it, skip it and go back to
    epoch_1.pth.
    """
    config = write_tiny_config(tmp_path, epochs=3, nval=2)
    full = _train(config, tmp_path / 'full')
    assert full.returncode == 0, full.stderr[-2000:]
    reference = load_checkpoint_file(str(tmp_path / 'full' / 'epoch_3.pth'))

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
