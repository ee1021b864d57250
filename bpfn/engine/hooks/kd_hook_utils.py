"""What the distillation hooks share: the distiller, RNG-neutral passes."""
from contextlib import contextmanager
from typing import Iterator

from mmengine.model import is_model_wrapper

from .rng_state_hook import get_rng_state, set_rng_state

__all__ = []


def unwrap_distiller(runner, hook: str):
    """The runner's distiller, out of its DDP wrapper.

    Args:
        runner: The runner.
        hook (str): Name of the calling hook, for the error message.

    Returns:
        SceneFlowDistiller: The distiller.
    """
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    if not hasattr(model, 'distill_losses'):
        raise TypeError(f'{hook} needs a distiller model (with '
                        f'distill_losses), got {type(model).__name__}')
    return model


@contextmanager
def rng_neutral() -> Iterator[None]:
    """Leave the python, numpy and torch RNG states as they were.

    A measurement pass before training (building a dataloader iterator
    draws a seed) must not change what training draws, or a resumed run
    that skips the pass would differ from an uninterrupted one.
    """
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
