"""Running a network in eval mode for a while, whatever its mode was."""
import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode inside the block (no BatchNorm statistics
    updates, no dropout) and give it back its previous mode on exit."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
