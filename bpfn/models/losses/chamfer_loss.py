"""Chamfer loss of self-supervised scene flow (PointPWC-Net).

Wu et al., "PointPWC-Net: Cost Volume on Point Clouds for (Self-)Supervised
Scene Flow Estimation", ECCV 2020, eq. (6): with ``p'_i = p_i + f_i`` the
first cloud warped by the predicted flow and ``q_j`` the second cloud::

    E_C = sum_i min_j ||p'_i - q_j||^2 + sum_j min_i ||p'_i - q_j||^2

per sample, averaged over the batch, and summed over the pyramid levels with
the level weights of the supervised loss (0.02, 0.04, 0.08, 0.16). It needs
no ground truth.
"""
from typing import Tuple

import torch
from torch import Tensor

from bpfn.ops import gather_points, knn
from bpfn.registry import MODELS
from .self_supervised_loss import BaseSelfSupervisedLoss


def nearest_sq_distances(query: Tensor, ref: Tensor) -> Tensor:
    """Squared distance of every query point to its nearest reference point.

    The nearest neighbour is found by :func:`bpfn.ops.knn` (exact, chunked
    so memory stays bounded) without gradients; the distance is then
    recomputed from the two points, so it is differentiable in both clouds.

    Args:
        query (Tensor): Query points (B, N, 3).
        ref (Tensor): Reference points (B, M, 3).

    Returns:
        Tensor: ``min_j ||query_i - ref_j||^2``, shape (B, N).
    """
    with torch.no_grad():
        idx = knn(1, ref.detach(), query.detach())[..., 0]
    return (gather_points(ref, idx) - query).pow(2).sum(dim=-1)


def chamfer_distance(pc_a: Tensor, pc_b: Tensor) -> Tuple[Tensor, Tensor]:
    """Both directions of the squared Chamfer distance.

    Args:
        pc_a (Tensor): First cloud (B, N, 3).
        pc_b (Tensor): Second cloud (B, M, 3).

    Returns:
        tuple[Tensor, Tensor]: ``min_j ||a_i - b_j||^2`` (B, N) and
        ``min_i ||a_i - b_j||^2`` (B, M).
    """
    return nearest_sq_distances(pc_a, pc_b), nearest_sq_distances(pc_b, pc_a)


def chamfer_loss(pc1: Tensor, pc2: Tensor, flow: Tensor) -> Tensor:
    """Per-sample Chamfer loss of one level, ``E_C`` of the module docstring.

    Args:
        pc1 (Tensor): First cloud (B, N, 3).
        pc2 (Tensor): Second cloud (B, M, 3).
        flow (Tensor): Flow of pc1 (B, N, 3).

    Returns:
        Tensor: ``sum_i d(p'_i, Q)^2 + sum_j d(q_j, P')^2`` per sample, (B,).
    """
    d12, d21 = chamfer_distance(pc1 + flow, pc2)
    return d12.sum(dim=1) + d21.sum(dim=1)


@MODELS.register_module()
class ChamferLoss(BaseSelfSupervisedLoss):
    """Multi-scale Chamfer loss: ``loss_weight * sum_l a_l mean_b E_C``.

    PointPWC-Net's self-supervised Chamfer term (see the module docstring;
    PointPWC's weight 1.0). A self-supervised loss of
    :class:`~bpfn.models.distillers.SceneFlowDistiller`
    (``self_supervised_losses``).

    Args:
        alpha (Sequence[float]): Level weights a_l, full resolution first.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    def sample_loss(self, pc1: Tensor, pc2: Tensor, flow: Tensor) -> Tensor:
        """:func:`chamfer_loss` per sample (B,)."""
        return chamfer_loss(pc1, pc2, flow)
