"""Gather and group helpers over the point dimension."""
import torch
from torch import Tensor

from .reference import use_reference


def gather_points(points: Tensor, idx: Tensor) -> Tensor:
    """Pick per-point values by index.

    Args:
        points (Tensor): Per-point values, shape (B, N, C).
        idx (Tensor): Indices into N, shape (B, S) or (B, S, K).

    Returns:
        Tensor: Shape (B, S, C) or (B, S, K, C).
    """
    if use_reference():
        # The original's port: plain advanced indexing.
        batch_idx = torch.arange(points.shape[0], device=idx.device)
        return points[batch_idx.view((-1, ) + (1, ) * (idx.dim() - 1)), idx]
    batch, num_points, channels = points.shape
    offset = torch.arange(batch, device=idx.device, dtype=idx.dtype)
    offset = (offset * num_points).view((batch, ) + (1, ) * (idx.dim() - 1))
    flat = points.reshape(batch * num_points, channels)
    # index_select copies whole rows, faster on CPU than advanced indexing.
    return flat.index_select(0, (idx + offset).reshape(-1)).view(
        *idx.shape, channels)


def group_points(points: Tensor, idx: Tensor) -> Tensor:
    """Group neighbours: values (B, N, C) at indices (B, S, K).

    Returns:
        Tensor: Shape (B, S, K, C).
    """
    return gather_points(points, idx)
