"""Kill the training process at a given iteration, for crash tests."""
import os
import signal

from mmengine.hooks import Hook

from bpfn.registry import HOOKS


@HOOKS.register_module()
class FaultInjectionHook(Hook):
    """SIGKILL the process at an iteration named by an environment variable.

    Does nothing unless the variable is set, so it can stay in test
    configs. Used to check that a killed run resumes exactly.

    Args:
        env_var (str): Variable holding the 1-based global iteration at
            whose start the process kills itself.
            Defaults to ``'BPFN_KILL_AT_ITER'``.
    """

    def __init__(self, env_var: str = 'BPFN_KILL_AT_ITER') -> None:
        self.env_var = env_var

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Kill the process when the configured iteration starts."""
        target = os.environ.get(self.env_var)
        if target and runner.iter + 1 == int(target):
            os.kill(os.getpid(), signal.SIGKILL)


__all__ = ['FaultInjectionHook']
