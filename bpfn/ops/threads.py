"""Intra-op CPU threads for a block of code."""
import contextlib
from typing import Iterator, Optional

import torch


@contextlib.contextmanager
def cpu_threads(num: Optional[int]) -> Iterator[None]:
    """Run the block with at most ``num`` intra-op CPU threads.

    ``torch.set_num_threads`` is process-wide: the previous number is
    restored on exit. ``None`` (or a number not below the current one)
    changes nothing.

    Args:
        num (int, optional): Most threads inside the block.
    """
    before = torch.get_num_threads()
    if num is None or num >= before:
        yield
        return
    torch.set_num_threads(num)
    try:
        yield
    finally:
        torch.set_num_threads(before)
