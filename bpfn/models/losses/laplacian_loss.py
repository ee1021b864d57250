"""Laplacian regularity of self-supervised scene flow (PointPWC-Net).

Wu et al., ECCV 2020: the warped first cloud keeps the local shape of the
second. As PointPWC-Net's released self-supervised loss computes it, the
Laplacian of a point is the mean offset to its ``K - 1`` nearest other
points, ``K = 10`` (``N_K`` includes the point itself)::

    L(x)_i = 1 / (K - 1) sum_{j in N_K(i)} (x_j - x_i)

For ``p'_i = p_i + f_i``, the warped first cloud keeps the neighbourhoods
of the first cloud (``L(P')`` over ``N_K`` of ``p_i`` in ``P``), and the
Laplacian of the second cloud ``L(Q)`` is interpolated at ``p'_i`` from
its 5 nearest points ``q_m`` in ``Q`` with inverse squared-distance
weights ``w_m = (1 / (d_m^2 + 1e-8)) / sum_m' (1 / (d_m'^2 + 1e-8))``::

    E_L = sum_i || L(P')_i - sum_m w_m L(Q)_m ||^2

per sample, averaged over the batch, summed over the pyramid levels with
the level weights (0.02, 0.04, 0.08, 0.16). It needs no ground truth.
"""
from typing import Sequence

import torch
from torch import Tensor

from bpfn.ops import group_points, knn
from bpfn.registry import MODELS
from .multi_scale_loss import DEFAULT_ALPHA
from .self_supervised_loss import BaseSelfSupervisedLoss

#: Added to the squared distances of the interpolation weights.
INTERP_EPS = 1e-8


def point_laplacian(points: Tensor, idx: Tensor) -> Tensor:
    """``L(x)_i = 1/(K-1) sum_{j in idx_i} (x_j - x_i)``.

    Args:
        points (Tensor): Points (B, N, 3).
        idx (Tensor): Neighbours (B, N, K) into N, the point itself among
            them.

    Returns:
        Tensor: Laplacians (B, N, 3).
    """
    k = idx.shape[-1]
    return (group_points(points, idx) - points.unsqueeze(2)).sum(dim=2) / (
        k - 1)


def interpolate_inverse_sq(query: Tensor, ref: Tensor, values: Tensor,
                           k: int = 5) -> Tensor:
    """Values at ``ref`` interpolated at ``query`` from ``k`` neighbours.

    Weights ``1 / (d^2 + 1e-8)``, normalised to sum to one; the neighbours
    are found without gradients, the weights are differentiable in
    ``query``.

    Args:
        query (Tensor): Points to interpolate at (B, N, 3).
        ref (Tensor): Points carrying the values (B, M, 3).
        values (Tensor): Values at ``ref`` (B, M, C).
        k (int): Neighbours. Defaults to 5.

    Returns:
        Tensor: Interpolated values (B, N, C).
    """
    with torch.no_grad():
        idx = knn(k, ref.detach(), query.detach())  # (B, N, k)
    sq = (group_points(ref, idx) - query.unsqueeze(2)).pow(2).sum(dim=-1)
    inv = 1.0 / (sq + INTERP_EPS)
    weight = inv / inv.sum(dim=-1, keepdim=True)
    return (weight.unsqueeze(-1) * group_points(values, idx)).sum(dim=2)


def laplacian_regularity(pc1: Tensor, pc2: Tensor, flow: Tensor,
                         k: int = 10, interp_k: int = 5) -> Tensor:
    """Per-sample Laplacian regularity ``E_L`` of one level.

    Args:
        pc1 (Tensor): First cloud (B, N, 3).
        pc2 (Tensor): Second cloud (B, M, 3).
        flow (Tensor): Flow of pc1 (B, N, 3).
        k (int): Laplacian neighbours, the point itself included.
            Defaults to 10.
        interp_k (int): Neighbours of the interpolation. Defaults to 5.

    Returns:
        Tensor: ``sum_i ||L(P')_i - L(Q)(p'_i)||^2`` per sample, (B,).
    """
    if k < 2:
        raise ValueError(f'laplacian_regularity: k must be >= 2, got {k}')
    warped = pc1 + flow
    with torch.no_grad():
        idx1 = knn(k, pc1.detach(), pc1.detach())
        idx2 = knn(k, pc2.detach(), pc2.detach())
    lap_warped = point_laplacian(warped, idx1)
    lap2 = point_laplacian(pc2, idx2)
    lap2_at_warped = interpolate_inverse_sq(warped, pc2, lap2, interp_k)
    return (lap_warped - lap2_at_warped).pow(2).sum(dim=-1).sum(dim=1)


@MODELS.register_module()
class LaplacianLoss(BaseSelfSupervisedLoss):
    """Multi-scale Laplacian regularity: ``loss_weight * sum_l a_l mean_b
    E_L``.

    PointPWC-Net's self-supervised Laplacian ("curvature") term (see the
    module docstring; PointPWC's weight 0.3). A self-supervised loss of
    :class:`~bpfn.models.distillers.SceneFlowDistiller`
    (``self_supervised_losses``).

    Args:
        alpha (Sequence[float]): Level weights a_l, full resolution first.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        k (int): Laplacian neighbours, the point itself included.
            Defaults to 10.
        interp_k (int): Neighbours interpolating the second cloud's
            Laplacian. Defaults to 5.
        loss_weight (float): Factor on the loss. Defaults to 0.3.
    """

    def __init__(self, alpha: Sequence[float] = DEFAULT_ALPHA, k: int = 10,
                 interp_k: int = 5, loss_weight: float = 0.3) -> None:
        if int(k) < 2 or int(interp_k) < 1:
            raise ValueError(f'LaplacianLoss: k must be >= 2 and interp_k '
                             f'>= 1, got {k} and {interp_k}')
        super().__init__(alpha, loss_weight)
        self.k = int(k)
        self.interp_k = int(interp_k)

    def sample_loss(self, pc1: Tensor, pc2: Tensor, flow: Tensor) -> Tensor:
        """:func:`laplacian_regularity` per sample (B,)."""
        return laplacian_regularity(pc1, pc2, flow, self.k, self.interp_k)
