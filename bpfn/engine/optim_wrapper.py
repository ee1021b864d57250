"""Optimizer wrappers that refuse steps on non-finite losses."""
import math
from typing import Any, Dict, Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from bpfn.registry import OPTIM_WRAPPERS

#: Message hub info key under which NonFiniteLossHook stores sample names.
BATCH_NAMES_KEY = 'bpfn_batch_sample_names'


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def describe_iteration() -> str:
    """Iteration, epoch and sample names of the current batch, as text."""
    hub = MessageHub.get_current_instance()
    parts = []
    it = hub.get_info('iter')
    if it is not None:
        parts.append(f'iteration {int(it) + 1}')
    epoch = hub.get_info('epoch')
    if epoch is not None:
        parts.append(f'epoch {int(epoch) + 1}')
    names = hub.get_info(BATCH_NAMES_KEY)
    if names:
        parts.append('samples ' + ', '.join(str(n) for n in names))
    return ', '.join(parts) if parts else 'unknown iteration'


class NonFiniteLossGuard:
    """Mixin for optimizer wrappers: check the loss before ``backward``.

    The loss is checked on every rank together when distributed, so all
    ranks skip or raise alike:

    * ``non_finite='raise'``: raise :class:`NonFiniteLossError` naming the
      iteration, epoch and the batch's sample names (recorded by
      ``NonFiniteLossHook``);
    * ``non_finite='skip'``: drop the batch (no backward, no step), log a
      warning and count it in :attr:`skipped_steps`.

    Put it before the wrapper class in the bases, see
    :class:`FiniteLossOptimWrapper` and :class:`FiniteLossAmpOptimWrapper`.

    Args:
        non_finite (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
        max_skips (int, optional): Raise anyway after this many skipped
            batches in a row. Defaults to 20.
        **kwargs: Arguments of the wrapper class.
    """

    def __init__(self, non_finite: str = 'raise',
                 max_skips: Optional[int] = 20, **kwargs) -> None:
        if non_finite not in ('raise', 'skip'):
            raise ValueError(f'{type(self).__name__}: non_finite must be '
                             f"'raise' or 'skip', got {non_finite!r}")
        super().__init__(**kwargs)
        self.non_finite = non_finite
        self.max_skips = max_skips
        self.skipped_steps = 0
        self.skips_in_a_row = 0

    @staticmethod
    def _all_finite(loss: torch.Tensor) -> bool:
        finite = torch.isfinite(loss.detach()).all().to(torch.float32)
        if is_distributed():
            finite = finite.to(loss.device)
            torch_dist.all_reduce(finite, op=torch_dist.ReduceOp.MIN)
        return bool(finite.item() > 0)

    def update_params(self, loss: torch.Tensor, step_kwargs: Optional[Dict]
                      = None, zero_kwargs: Optional[Dict] = None) -> None:
        """Backward and step, unless the loss is not finite.

        Args:
            loss (Tensor): The loss.
            step_kwargs (dict, optional): Arguments of ``step``.
            zero_kwargs (dict, optional): Arguments of ``zero_grad``.
        """
        if self._all_finite(loss):
            self.skips_in_a_row = 0
            super().update_params(loss, step_kwargs, zero_kwargs)
            return
        value = loss.detach().float().item() if loss.numel() == 1 else \
            'non-finite'
        where = describe_iteration()
        self.skips_in_a_row += 1
        too_many = self.max_skips is not None and \
            self.skips_in_a_row > self.max_skips
        if self.non_finite == 'raise' or too_many:
            extra = (f' ({self.skips_in_a_row} batches in a row, more than '
                     f'max_skips={self.max_skips})') if too_many else ''
            raise NonFiniteLossError(
                f'non-finite training loss ({value}) at {where}{extra}. '
                'Check these samples for NaN/inf values or lower the lr; set '
                "optim_wrapper.non_finite='skip' to drop such batches")
        self.skipped_steps += 1
        self.zero_grad(**(zero_kwargs or {}))
        print_log(f'skipped a batch with a non-finite loss ({value}) at '
                  f'{where} ({self.skipped_steps} skipped so far)',
                  logger='current', level=30)


@OPTIM_WRAPPERS.register_module()
class FiniteLossOptimWrapper(NonFiniteLossGuard, OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` guarding against NaN/inf losses.

    See :class:`NonFiniteLossGuard` for ``non_finite`` and ``max_skips``;
    the other arguments are those of :class:`~mmengine.optim.OptimWrapper`.
    """


@OPTIM_WRAPPERS.register_module()
class FiniteLossAmpOptimWrapper(NonFiniteLossGuard, AmpOptimWrapper):
    """:class:`~mmengine.optim.AmpOptimWrapper` guarding against NaN/inf.

    ``tools/train.py --amp`` uses it in place of
    :class:`FiniteLossOptimWrapper`, so mixed precision keeps the guard.
    The unscaled loss is checked before it is scaled: a loss that is
    finite but overflows in fp16 gradients is still handled by the
    gradient scaler (the step is skipped and the scale lowered). See
    :class:`NonFiniteLossGuard` for ``non_finite`` and ``max_skips``; the
    other arguments are those of :class:`~mmengine.optim.AmpOptimWrapper`.
    """


def is_finite_number(value: Any) -> bool:
    """Whether a loss value (tensor or number) is finite."""
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    return math.isfinite(float(value))
