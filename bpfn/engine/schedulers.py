"""Parameter schedulers of bpfn."""
from typing import List

from mmengine.optim.scheduler import StepLR

from bpfn.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class ClampedStepLR(StepLR):
    """:class:`~mmengine.optim.StepLR` with a lower bound on the lr.

    The lr of the original BPF recipe:
    ``max(lr0 * gamma ** (epoch // step_size), min_lr)``.

    Args:
        optimizer (Optimizer | OptimWrapper): The optimizer.
        step_size (int): Period of the decay (epochs when ``by_epoch``).
        gamma (float): Decay factor. Defaults to 0.1.
        min_lr (float): Floor of the lr. Defaults to 0.
        **kwargs: Other arguments of :class:`~mmengine.optim.StepLR`
            (``begin``, ``end``, ``by_epoch``, ...).
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1,
                 min_lr: float = 0., **kwargs) -> None:
        if min_lr < 0:
            raise ValueError(f'ClampedStepLR: min_lr must be >= 0, got '
                             f'{min_lr}')
        self.min_lr = float(min_lr)
        super().__init__(optimizer, step_size=step_size, gamma=gamma,
                         **kwargs)

    def _get_value(self) -> List[float]:
        """The decayed values, never below ``min_lr``."""
        return [max(value, self.min_lr) for value in super()._get_value()]
