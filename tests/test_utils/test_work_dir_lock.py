"""WorkDirLock: one training run per work dir."""
import json
import os
import socket
import subprocess
import sys

from bpfn.utils import WorkDirLock


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def _write_lock(folder, **info) -> None:
    (folder / 'train.lock').write_text(json.dumps(info))


def test_acquire_release_and_nesting(tmp_path):
    lock = WorkDirLock(str(tmp_path / 'work'))
    with lock:
        info = json.loads((tmp_path / 'work' / 'train.lock').read_text())
        assert info['pid'] == os.getpid()
        assert info['host'] == socket.gethostname()
        assert 'python' in info['command']
        # The same process takes it again (tools/train.py, then the
        # runner); the file stays until the outermost release.
        with WorkDirLock(str(tmp_path / 'work')):
            pass
        assert (tmp_path / 'work' / 'train.lock').exists()
    assert not (tmp_path / 'work' / 'train.lock').exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    pid = _dead_pid()
    _write_lock(tmp_path, pid=pid, host=socket.gethostname(),
                started='2026-01-01 10:00:00')
    logged = []
    with WorkDirLock(str(tmp_path), logged.append):
        assert json.loads((tmp_path / 'train.lock').read_text())['pid'] == \
            os.getpid()
    assert logged == [
        f'taking over the stale lock {tmp_path / "train.lock"} (pid {pid} on '
        f'{socket.gethostname()}, started 2026-01-01 10:00:00): process '
        f'{pid} is no longer running']
    assert os.listdir(tmp_path) == []


def test_lock_of_an_earlier_attempt_of_a_requeued_slurm_job(tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv('SLURM_JOB_ID', '777')
    monkeypatch.setenv('SLURM_RESTART_COUNT', '1')
    _write_lock(tmp_path, pid=1, host='node-a', slurm_job_id='777',
                slurm_restart='0')
    logged = []
    with WorkDirLock(str(tmp_path), logged.append):
        pass
    assert logged[0].endswith('it was left by an earlier attempt of this '
                              'requeued Slurm job')
