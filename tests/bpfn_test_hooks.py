"""Test-only runner hooks, registered in bpfn's HOOKS when imported.

``tests/conftest.py`` imports this module for the tests that build runners
in the test process; the tiny config of ``bpfn_test_utils.py`` names it in
``custom_imports`` for the tools the tests run in subprocesses (the
conftest puts this folder on their ``PYTHONPATH``).
"""
import fnmatch
import os
import os.path as osp
import signal

from mmengine.hooks import Hook

from bpfn.registry import HOOKS


@HOOKS.register_module()
class FaultInjectionHook(Hook):
    """Kill or signal the training process where environment variables
    say, for crash tests.

    Does nothing unless a variable is set, so it can stay in test configs.
    Used to check that a killed or stopped run resumes exactly and that no
    checkpoint is lost.

    * ``BPFN_KILL_AT_ITER=N``: SIGKILL at the start of the 1-based global
      iteration ``N``.
    * ``BPFN_KILL_IN_SAVE=PATTERN``: SIGKILL while saving a checkpoint whose
      file name matches the glob ``PATTERN`` (e.g. ``epoch_2.pth``,
      ``best_*``): its temp file is cut to half its size, as an interrupted
      write leaves it, before it is renamed into place.
    * ``BPFN_SIGNAL_AT_ITER=N[:NAME[:group]]``: send signal ``NAME``
      (default ``SIGTERM``) to the process, or with ``group`` to its whole
      process group (data loader workers included, as Slurm does), at the
      start of iteration ``N``.

    Args:
        env_var (str): Variable of the kill iteration.
            Defaults to ``'BPFN_KILL_AT_ITER'``.
    """

    def __init__(self, env_var: str = 'BPFN_KILL_AT_ITER') -> None:
        self.env_var = env_var

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Kill or signal the process when the configured iteration starts.
        """
        target = os.environ.get(self.env_var)
        if target and runner.iter + 1 == int(target):
            os.kill(os.getpid(), signal.SIGKILL)
        spec = os.environ.get('BPFN_SIGNAL_AT_ITER')
        if spec:
            at, name, scope = (spec.split(':') + ['', ''])[:3]
            if runner.iter + 1 == int(at):
                signum = getattr(signal, name or 'SIGTERM')
                if scope == 'group':
                    os.killpg(os.getpgid(0), signum)
                else:
                    os.kill(os.getpid(), signum)

    def after_write_checkpoint(self, runner, tmp_path: str,
                               filepath: str) -> None:
        """Cut the temp file and SIGKILL when ``filepath`` matches."""
        pattern = os.environ.get('BPFN_KILL_IN_SAVE')
        if pattern and fnmatch.fnmatch(osp.basename(filepath), pattern):
            size = osp.getsize(tmp_path)
            with open(tmp_path, 'r+b') as f:
                f.truncate(size // 2)
            os.kill(os.getpid(), signal.SIGKILL)


__all__ = ['FaultInjectionHook']
