"""Spatially compact blocks of a point cloud: the leaves of a k-d split."""
import contextlib
import contextvars
import math
from typing import Callable, Iterator, NamedTuple

import torch
from torch import Tensor

# Structures of the clouds searched inside ``reuse_point_blocks``.
_CACHE = contextvars.ContextVar('bpfn_point_blocks_cache', default=None)


class PointBlocks(NamedTuple):
    """A cloud cut into ``nb`` blocks of ``bs`` points each.

    When ``nb * bs`` exceeds the number of points, some points are repeated
    as padding; ``valid`` marks the real entries.

    Attributes:
        order (Tensor): Index of each block entry in the cloud, (B, nb, bs).
        points (Tensor): Coordinates, (B, nb, bs, 3).
        sq_norms (Tensor): Squared norms of the points, (B, nb, bs).
        valid (Tensor): False on padding entries, (B, nb, bs), bool.
        lower (Tensor): Lower corner of each block's bounding box, (B, nb, 3).
        upper (Tensor): Upper corner of each block's bounding box, (B, nb, 3).
    """
    order: Tensor
    points: Tensor
    sq_norms: Tensor
    valid: Tensor
    lower: Tensor
    upper: Tensor

    @property
    def num_blocks(self) -> int:
        return self.order.shape[1]


def kd_blocks(points: Tensor, sq_norms: Tensor,
              block_size: int) -> PointBlocks:
    """Cut a cloud into blocks by repeated median splits.

    Each round halves every block across the longest side of its bounding
    box, as a k-d tree does, until blocks hold at most ``block_size`` points.
    All blocks of a round are split at once with one batched sort.

    Args:
        points (Tensor): Points, shape (B, N, 3).
        sq_norms (Tensor): Their squared norms, shape (B, N).
        block_size (int): Largest number of points per block.

    Returns:
        PointBlocks: ``2**r`` blocks of ``ceil(N / 2**r)`` points, with
        ``r = ceil(log2(N / block_size))``.
    """
    batch, num, _ = points.shape
    rounds = max(0, math.ceil(math.log2(num / block_size)))
    num_blocks = 2**rounds
    size = -(-num // num_blocks)
    total = num_blocks * size
    slot = torch.arange(total, device=points.device)
    # Padding repeats points spread over the cloud, so that no block is
    # mostly padding.
    source = torch.where(slot < num, slot, (slot - num) * num //
                         max(1, total - num))
    coords = points[:, source]
    slot = slot.expand(batch, total)
    for level in range(rounds):
        parts = coords.view(batch, 2**level, -1, 3)
        axis = (parts.amax(2) - parts.amin(2)).argmax(-1)
        key = torch.gather(
            parts, 3, axis[:, :, None, None].expand(-1, -1, parts.shape[2],
                                                    1)).squeeze(-1)
        perm = key.argsort(dim=-1)
        coords = torch.gather(parts, 2,
                              perm.unsqueeze(-1).expand(-1, -1, -1, 3))
        coords = coords.reshape(batch, total, 3)
        slot = torch.gather(slot.reshape(batch, 2**level, -1), 2,
                            perm).reshape(batch, total)
    order = source[slot]
    coords = coords.view(batch, num_blocks, size, 3)
    return PointBlocks(
        order=order.view(batch, num_blocks, size),
        points=coords,
        sq_norms=torch.gather(sq_norms, 1, order).view(batch, num_blocks,
                                                       size),
        valid=(slot < num).view(batch, num_blocks, size),
        lower=coords.amin(2),
        upper=coords.amax(2))


@contextlib.contextmanager
def reuse_point_blocks() -> Iterator[None]:
    """Build the search structures of each cloud once inside the block.

    A network searches the same clouds many times (a cloud is the reference
    of one search and the query of the next); inside this context
    :func:`cloud_blocks` and :func:`all_finite` compute their result once
    per point tensor and return it again for later calls on the same tensor.
    The tensors stay referenced until the context exits, and a tensor
    changed in place (a new version) is processed again. Also usable as a
    decorator; nested uses share the outer cache.
    """
    if _CACHE.get() is not None:
        yield
        return
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def _key(points: Tensor, what: tuple) -> tuple:
    return (points.data_ptr(), points.dtype, points.device,
            tuple(points.shape), points.stride(), points._version) + what


def _cached(points: Tensor, what: tuple, build: Callable[[], object]):
    cache = _CACHE.get()
    if cache is None or points.is_inference():
        # Inference tensors carry no version counter: no safe reuse.
        return build()
    key = _key(points, what)
    hit = cache.get(key)
    if hit is None:
        # Holding the tensor keeps its memory from being reused by another.
        hit = cache[key] = (points, build())
    return hit[1]


def _build_blocks(points: Tensor, block_size: int) -> PointBlocks:
    with torch.no_grad():
        points = points.detach()
        return kd_blocks(points, torch.sum(points**2, -1), block_size)


def cloud_blocks(points: Tensor, block_size: int) -> PointBlocks:
    """:func:`kd_blocks` of a cloud with its squared norms, reused inside
    :func:`reuse_point_blocks`.

    The blocks are kept per cloud of the batch, so that a batch and a slice
    of it (both clouds of a pair, and one of them) share them.

    Args:
        points (Tensor): Points, shape (B, N, 3).
        block_size (int): Largest number of points per block.

    Returns:
        PointBlocks: The blocks.
    """
    cache = _CACHE.get()
    if cache is None or points.is_inference():
        return _build_blocks(points, block_size)
    what = ('blocks', block_size)
    key = _key(points, what)
    hit = cache.get(key)
    if hit is not None:
        return hit[1]
    clouds = [points[i:i + 1] for i in range(points.shape[0])]
    keys = [_key(cloud, what) for cloud in clouds]
    missing = [i for i, k in enumerate(keys) if k not in cache]
    if missing:
        built = _build_blocks(points[missing], block_size)
        for j, i in enumerate(missing):
            cache[keys[i]] = (clouds[i],
                              PointBlocks(*(t[j:j + 1] for t in built)))
    parts = [cache[k][1] for k in keys]
    blocks = parts[0] if len(parts) == 1 else PointBlocks(
        *(torch.cat(ts) for ts in zip(*parts)))
    cache[key] = (points, blocks)
    return blocks


def all_finite(points: Tensor) -> bool:
    """Whether every value is finite, reused inside
    :func:`reuse_point_blocks`."""
    return _cached(points, ('finite', ),
                   lambda: bool(torch.isfinite(points).all()))
