"""Stop (or skip) on NaN/inf training losses with a useful message."""
from typing import Optional, Sequence

from mmengine.hooks import Hook

from bpfn.registry import HOOKS
from ..optim_wrapper import (BATCH_NAMES_KEY, NonFiniteLossError,
                             NonFiniteLossGuard, describe_iteration,
                             is_finite_number)


def batch_sample_names(data_batch) -> list:
    """``sample_name`` (or ``sample_idx``) of every sample of a batch."""
    samples: Sequence = ()
    if isinstance(data_batch, dict):
        samples = data_batch.get('data_samples') or ()
    names = []
    for i, sample in enumerate(samples):
        if isinstance(sample, dict):
            name = sample.get('sample_name', sample.get('sample_idx', i))
        else:
            name = getattr(sample, 'sample_name', i)
        names.append(str(name))
    return names


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Name the samples of a batch whose training loss is NaN or infinite.

    Before every iteration the batch's sample names go to the message hub,
    where :class:`~bpfn.engine.FiniteLossOptimWrapper` (or
    ``FiniteLossAmpOptimWrapper`` with ``--amp``) reads them when it
    refuses a step (``optim_wrapper.non_finite='raise'`` stops training,
    ``'skip'`` drops the batch). With another optimizer wrapper the hook
    checks the logged loss after the iteration and, with
    ``action='raise'``, stops training with the same message (the step has
    already been taken then).

    Args:
        action (str, optional): ``'raise'`` or ``'skip'``; sets the
            optimizer wrapper's ``non_finite`` policy when it is a
            :class:`FiniteLossOptimWrapper` or
            :class:`FiniteLossAmpOptimWrapper`. Defaults to None (keep the
            wrapper's policy).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, action: Optional[str] = None) -> None:
        if action not in (None, 'raise', 'skip'):
            raise ValueError("NonFiniteLossHook: action must be 'raise', "
                             f"'skip' or None, got {action!r}")
        self.action = action

    def before_train(self, runner) -> None:
        """Apply ``action`` to the optimizer wrapper."""
        wrapper = runner.optim_wrapper
        if self.action is not None and isinstance(wrapper,
                                                  NonFiniteLossGuard):
            wrapper.non_finite = self.action

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Record the batch's sample names."""
        runner.message_hub.update_info(BATCH_NAMES_KEY,
                                       batch_sample_names(data_batch))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Stop on a non-finite loss the optimizer wrapper let through."""
        if isinstance(runner.optim_wrapper, NonFiniteLossGuard) or \
                not outputs or self.action == 'skip':
            return
        loss = outputs.get('loss')
        if loss is not None and not is_finite_number(loss):
            raise NonFiniteLossError(
                f'non-finite training loss ({float(loss)}) at '
                f'{describe_iteration()}. Check these samples for NaN/inf '
                'values or lower the lr')


__all__ = ['NonFiniteLossHook']
