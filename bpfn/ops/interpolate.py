"""Inverse-distance three-nearest-neighbour interpolation."""
from typing import Tuple

import torch
from torch import Tensor

from .gather import group_points
from .knn import knn


def three_nn_weights(query: Tensor, ref: Tensor) -> Tuple[Tensor, Tensor]:
    """Three nearest reference points and their inverse-distance weights.

    Args:
        query (Tensor): Points to interpolate at, shape (B, N, 3).
        ref (Tensor): Points that carry the values, shape (B, S, 3).

    Returns:
        tuple[Tensor, Tensor]: Indices (B, N, 3) into S and weights
        (B, N, 3) that sum to one, ``w_i = (1 / d_i) / sum_j (1 / d_j)``
        with ``d`` the Euclidean distance clamped to at least 1e-10.
    """
    idx = knn(3, ref, query)
    offsets = group_points(ref, idx) - query.unsqueeze(2)
    dist = torch.norm(offsets, dim=-1).clamp(min=1e-10)
    inv = 1.0 / dist
    weight = inv / torch.sum(inv, dim=-1, keepdim=True)
    return idx, weight


def three_interpolate(values: Tensor, idx: Tensor, weight: Tensor) -> Tensor:
    """Weighted sum of three neighbours' values.

    Args:
        values (Tensor): Values at the reference points, shape (B, S, C).
        idx (Tensor): Neighbour indices, shape (B, N, 3).
        weight (Tensor): Neighbour weights, shape (B, N, 3).

    Returns:
        Tensor: Interpolated values, shape (B, N, C).
    """
    grouped = group_points(values, idx)  # B, N, 3, C
    return torch.sum(weight.unsqueeze(-1) * grouped, dim=2)


def interpolate_three_nn(query: Tensor, ref: Tensor, values: Tensor) -> Tensor:
    """Interpolate ``values`` (B, S, C) given at ``ref`` onto ``query``.

    Returns:
        Tensor: Shape (B, N, C).
    """
    idx, weight = three_nn_weights(query, ref)
    return three_interpolate(values, idx, weight)
