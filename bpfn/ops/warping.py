"""Warping of the second cloud towards the first by a coarse flow."""
from torch import Tensor

from .interpolate import three_interpolate, three_nn_weights


def warp_backward(xyz1: Tensor, xyz2: Tensor, flow1: Tensor) -> Tensor:
    """Move cloud 2 back along the flow of cloud 1.

    Cloud 1 is moved by its flow; each point of cloud 2 takes the
    inverse-distance weighted flow of its three nearest moved points and is
    moved back by it.

    Args:
        xyz1 (Tensor): Cloud 1, shape (B, N1, 3).
        xyz2 (Tensor): Cloud 2, shape (B, N2, 3).
        flow1 (Tensor): Flow of cloud 1, shape (B, N1, 3).

    Returns:
        Tensor: Warped cloud 2, shape (B, N2, 3).
    """
    moved = xyz1 + flow1
    idx, weight = three_nn_weights(xyz2, moved)
    return xyz2 - three_interpolate(flow1, idx, weight)
