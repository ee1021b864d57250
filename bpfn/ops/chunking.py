"""Chunks of points that bound the size of per-neighbourhood tensors."""
from typing import Iterator, Sequence

import torch
from torch import Tensor

# Neighbourhood tensors (B, chunk, K, C) of about this many values stay in
# a CPU's cache (4 MiB of float32: measured 3-12% faster forwards than
# 8 MiB on 2 threads); a GPU prefers a few large kernels.
CPU_CHUNK_ELEMENTS = 2**20
CUDA_CHUNK_ELEMENTS = 2**27


def chunk_elements(device: torch.device) -> int:
    """Default number of values per chunk on ``device``."""
    return CPU_CHUNK_ELEMENTS if device.type == 'cpu' else CUDA_CHUNK_ELEMENTS


def point_chunks(num_points: int, per_point: int,
                 max_elements: int) -> Iterator[slice]:
    """Slices of ``range(num_points)`` holding at most ``max_elements``.

    Args:
        num_points (int): Number of points ``N`` to cover.
        per_point (int): Values each point adds to a chunk (for instance
            ``B * K * C``).
        max_elements (int): Bound on the values of one chunk; a chunk holds
            at least one point.

    Yields:
        slice: Consecutive ranges of points covering ``0 .. N``.
    """
    step = max(1, max_elements // max(1, per_point))
    for start in range(0, num_points, step):
        yield slice(start, min(start + step, num_points))


def cat_chunks(parts: Sequence[Tensor], dim: int) -> Tensor:
    """The results of the chunks as one tensor, concatenated along ``dim``;
    a single chunk's result as it is (``torch.cat`` would copy it)."""
    return parts[0] if len(parts) == 1 else torch.cat(list(parts), dim=dim)
