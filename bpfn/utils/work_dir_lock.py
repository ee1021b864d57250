"""One training run per work dir: a lock file naming its holder."""
import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Any, Callable, Dict, Optional

#: Name of the lock file in the work dir.
LOCK_NAME = 'train.lock'

# Locks this process holds: lock path -> number of nested acquisitions.
_HELD: Dict[str, int] = {}


class WorkDirLockedError(RuntimeError):
    """Another run holds the work dir, or its lock cannot be read."""


def _process_start(pid: int) -> Optional[str]:
    """The start time of process ``pid`` (Linux ``/proc``), or None."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return None
    # Field 22 (starttime) counts from after the parenthesised command.
    fields = stat[stat.rfind(')') + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _describe(info: Dict[str, Any]) -> str:
    text = f'pid {info.get("pid")} on {info.get("host")}'
    if info.get('started'):
        text += f', started {info["started"]}'
    if info.get('slurm_job_id'):
        text += f', Slurm job {info["slurm_job_id"]}'
    if info.get('command'):
        text += f', command: {info["command"]}'
    return text


class WorkDirLock:
    """A lock file ``<work_dir>/train.lock`` held by one training run.

    The file records the holder's pid, host, process start time, start
    date, command line and Slurm job. :meth:`acquire` creates it with
    ``O_EXCL``; if it exists:

    * a lock of this process is taken again (nested acquisitions, e.g.
      ``tools/train.py`` and then the runner, share it);
    * a stale lock, whose process no longer runs on this host (or whose
      pid now belongs to another process, or which an earlier attempt of
      the same requeued Slurm job left), is taken over with a warning;
    * otherwise :class:`WorkDirLockedError` names the holder. A lock held
      on another host cannot be checked: delete the file if that run is
      gone.

    :meth:`release` removes the file if it is still this process's. In a
    distributed run only rank 0 takes the lock (see
    :class:`bpfn.engine.BPFNRunner`).

    Args:
        work_dir (str): The work dir (created if missing).
        log (Callable[[str], Any], optional): Receives the take-over
            warning. Defaults to printing to stderr.
    """

    def __init__(self, work_dir: str,
                 log: Optional[Callable[[str], Any]] = None) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self.log = log or (lambda msg: print(msg, file=sys.stderr))

    @property
    def _key(self) -> str:
        return osp.realpath(self.path)

    def _mine(self) -> Dict[str, Any]:
        return dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            process_start=_process_start(os.getpid()),
            started=time.strftime('%Y-%m-%d %H:%M:%S'),
            command=' '.join([osp.basename(sys.executable)] + sys.argv),
            slurm_job_id=os.environ.get('SLURM_JOB_ID'),
            slurm_restart=os.environ.get('SLURM_RESTART_COUNT', '0'))

    def holder(self) -> Optional[Dict[str, Any]]:
        """The holder recorded in the lock file, or None without a file.

        Raises:
            WorkDirLockedError: If the file cannot be read as a lock.
        """
        for _ in range(20):
            try:
                with open(self.path) as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            try:
                info = json.loads(text)
                if isinstance(info, dict) and isinstance(info.get('pid'),
                                                         int):
                    return info
            except ValueError:
                pass
            time.sleep(0.05)  # maybe being written right now
        raise WorkDirLockedError(
            f'work dir {self.work_dir} has a lock file {self.path} that is '
            'not a bpfn lock (unreadable); if no training run uses this work '
            'dir, delete the file')

    def _stale_reason(self, info: Dict[str, Any]) -> Optional[str]:
        """Why the holder ``info`` no longer holds the lock, or None."""
        mine = self._mine()
        if info.get('slurm_job_id') and \
                info.get('slurm_job_id') == mine['slurm_job_id'] and \
                str(info.get('slurm_restart')) != mine['slurm_restart']:
            return ('it was left by an earlier attempt of this requeued '
                    'Slurm job')
        if info.get('host') != mine['host']:
            return None
        pid = int(info['pid'])
        if not _is_running(pid):
            return f'process {pid} is no longer running'
        start = info.get('process_start')
        if start is not None and _process_start(pid) not in (None, start):
            return f'pid {pid} now belongs to another process'
        return None

    def acquire(self) -> 'WorkDirLock':
        """Take the lock (see the class docstring).

        Returns:
            WorkDirLock: ``self``.

        Raises:
            WorkDirLockedError: If another live run holds the work dir.
        """
        if _HELD.get(self._key):
            _HELD[self._key] += 1
            return self
        os.makedirs(self.work_dir, exist_ok=True)
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                             0o644)
            except FileExistsError:
                info = self.holder()
                if info is None:
                    continue  # released meanwhile
                if info.get('pid') == os.getpid() and \
                        info.get('host') == socket.gethostname():
                    _HELD[self._key] = 1
                    return self
                reason = self._stale_reason(info)
                if reason is None:
                    raise WorkDirLockedError(
                        f'work dir {self.work_dir} is in use by another '
                        f'training run ({_describe(info)}); two runs in one '
                        "work dir overwrite each other's checkpoints. Wait "
                        'for it to end, stop it, or use another --work-dir. '
                        f'If that run is gone, delete {self.path}')
                self._take_over(info, reason)
                continue
            with os.fdopen(fd, 'w') as f:
                json.dump(self._mine(), f)
                f.flush()
                os.fsync(f.fileno())
            _HELD[self._key] = 1
            return self
        raise WorkDirLockedError(
            f'could not take the lock {self.path}: other processes keep '
            'taking it')

    def _take_over(self, info: Dict[str, Any], reason: str) -> None:
        """Move a stale lock out of the way, unless another process did."""
        aside = f'{self.path}.stale.{os.getpid()}'
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another process took it over first
        with open(aside) as f:
            moved = f.read()
        try:
            same = json.loads(moved) == info
        except ValueError:
            same = False
        if not same:  # a new holder's lock: put it back
            if not osp.exists(self.path):
                os.rename(aside, self.path)
                return
            raise WorkDirLockedError(
                f'could not take the lock {self.path}: other processes are '
                f'taking it at the same time (a moved lock is in {aside})')
        os.remove(aside)
        self.log(f'taking over the stale lock {self.path} ({_describe(info)})'
                 f': {reason}')

    def release(self) -> None:
        """Give the lock back; the file goes when the outermost holder ends.
        """
        count = _HELD.get(self._key, 0)
        if count > 1:
            _HELD[self._key] = count - 1
            return
        _HELD.pop(self._key, None)
        try:
            info = self.holder()
        except WorkDirLockedError:
            return
        if info is not None and info.get('pid') == os.getpid() and \
                info.get('host') == socket.gethostname():
            os.remove(self.path)

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
