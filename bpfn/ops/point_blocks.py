"""Spatially compact blocks of a point cloud: the leaves of a k-d split."""
import math
from typing import NamedTuple

import torch
from torch import Tensor


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
