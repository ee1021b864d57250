"""Chamfer loss of self-supervised scene flow (PointPWC-Net).

Wu et al., "PointPWC-Net: Cost Volume on Point Clouds for (Self-)Supervised
Scene Flow Estimation", ECCV 2020, eq. (6): with ``p'_i = p_i + f_i`` the
first cloud warped by the predicted flow and ``q_j`` the second cloud::

    E_C = sum_i min_j ||p'_i - q_j||^2 + sum_j min_i ||p'_i - q_j||^2

per sample, averaged over the batch, and summed over the pyramid levels with
the level weights of the supervised loss (0.02, 0.04, 0.08, 0.16). It needs
no ground truth.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor, nn

from bpfn.ops import gather_points, knn
from bpfn.registry import MODELS
from .multi_scale_loss import DEFAULT_ALPHA


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
class ChamferLoss(nn.Module):
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

    #: Needs the clouds and the student's flows only (no GT, no teacher).
    self_supervised = True

    def __init__(self, alpha: Sequence[float] = DEFAULT_ALPHA,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = tuple(alpha)
        self.loss_weight = loss_weight

    def forward(self, pc1: Sequence[Tensor], pc2: Sequence[Tensor],
                flows: Sequence[Tensor]) -> Tensor:
        """Loss over the levels of ``flows``.

        Args:
            pc1 (Sequence[Tensor]): First cloud per level (B, N_l, 3).
            pc2 (Sequence[Tensor]): Second cloud per level (B, M_l, 3).
            flows (Sequence[Tensor]): Flows of pc1 per level (B, N_l, 3),
                full resolution first.

        Returns:
            Tensor: Scalar loss.
        """
        check_flow_levels(type(self).__name__, self.alpha, pc1, pc2, flows)
        total = flows[0].new_zeros(())
        for level, flow in enumerate(flows):
            total = total + self.alpha[level] * chamfer_loss(
                pc1[level], pc2[level], flow).mean()
        return self.loss_weight * total


def check_flow_levels(name: str, alpha: Sequence[float],
                      pc1: Sequence[Tensor], pc2: Sequence[Tensor],
                      flows: Sequence[Tensor]) -> None:
    """Refuse clouds or level weights that do not cover every flow level.

    Shared by the self-supervised losses.

    Args:
        name (str): Loss name for the message.
        alpha (Sequence[float]): Level weights.
        pc1 (Sequence[Tensor]): First cloud per level (B, N_l, 3).
        pc2 (Sequence[Tensor]): Second cloud per level (B, M_l, 3).
        flows (Sequence[Tensor]): Flows per level (B, N_l, 3).
    """
    if len(pc1) < len(flows) or len(pc2) < len(flows):
        raise ValueError(f'{name}: {len(flows)} flow levels but clouds of '
                         f'{len(pc1)} / {len(pc2)} levels')
    if len(alpha) < len(flows):
        raise ValueError(f'{name}: {len(flows)} flow levels but only '
                         f'{len(alpha)} level weights (alpha)')
    for level, (p, f) in enumerate(zip(pc1, flows)):
        if f.shape != p.shape:
            raise ValueError(f'{name}: level {level} flow {tuple(f.shape)} '
                             f'must have the shape of pc1 {tuple(p.shape)} '
                             '(B, N, 3)')
