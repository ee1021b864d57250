"""Smoothness loss of self-supervised scene flow (PointPWC-Net).

Wu et al., ECCV 2020: neighbouring points of the first cloud move alike.
As PointPWC-Net's released self-supervised loss computes it, with
``N_K(p_i)`` the ``K = 9`` nearest points of ``p_i`` in the first cloud
(``p_i`` itself among them, with a zero difference)::

    E_S = sum_i 1 / (K - 1) sum_{j in N_K(p_i)} ||f_i - f_j||

per sample (the plain end-point difference, averaged over the ``K - 1``
other neighbours), averaged over the batch, summed over the pyramid levels
with the level weights (0.02, 0.04, 0.08, 0.16). It needs no ground truth.
"""
from typing import Sequence

import torch
from torch import Tensor, nn

from bpfn.ops import group_points, knn
from bpfn.registry import MODELS
from .chamfer_loss import check_flow_levels
from .multi_scale_loss import DEFAULT_ALPHA


def flow_smoothness(pc1: Tensor, flow: Tensor, k: int = 9) -> Tensor:
    """Per-sample smoothness ``E_S`` of one level (module docstring).

    Args:
        pc1 (Tensor): First cloud (B, N, 3).
        flow (Tensor): Its flow (B, N, 3).
        k (int): Neighbours ``K``, the point itself included (at least 2).
            Defaults to 9.

    Returns:
        Tensor: ``sum_i 1/(K-1) sum_j ||f_i - f_j||`` per sample, (B,).
    """
    if k < 2:
        raise ValueError(f'flow_smoothness: k must be >= 2 (the point and '
                         f'at least one neighbour), got {k}')
    with torch.no_grad():
        idx = knn(k, pc1.detach(), pc1.detach())  # (B, N, K)
    diff = group_points(flow, idx) - flow.unsqueeze(2)  # (B, N, K, 3)
    return torch.norm(diff, dim=-1).sum(dim=2).sum(dim=1) / (k - 1)


@MODELS.register_module()
class SmoothnessLoss(nn.Module):
    """Multi-scale smoothness: ``loss_weight * sum_l a_l mean_b E_S``.

    PointPWC-Net's self-supervised smoothness term (see the module
    docstring; PointPWC's weight 1.0). A self-supervised loss of
    :class:`~bpfn.models.distillers.SceneFlowDistiller`
    (``self_supervised_losses``).

    Args:
        alpha (Sequence[float]): Level weights a_l, full resolution first.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        k (int): Neighbours, the point itself included. Defaults to 9.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    #: Needs the clouds and the student's flows only (no GT, no teacher).
    self_supervised = True

    def __init__(self, alpha: Sequence[float] = DEFAULT_ALPHA, k: int = 9,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if int(k) < 2:
            raise ValueError(f'SmoothnessLoss: k must be >= 2, got {k}')
        self.alpha = tuple(alpha)
        self.k = int(k)
        self.loss_weight = loss_weight

    def forward(self, pc1: Sequence[Tensor], pc2: Sequence[Tensor],
                flows: Sequence[Tensor]) -> Tensor:
        """Loss over the levels of ``flows``.

        Args:
            pc1 (Sequence[Tensor]): First cloud per level (B, N_l, 3).
            pc2 (Sequence[Tensor]): Second cloud per level (B, M_l, 3);
                unused (one signature for the self-supervised losses).
            flows (Sequence[Tensor]): Flows of pc1 per level (B, N_l, 3),
                full resolution first.

        Returns:
            Tensor: Scalar loss.
        """
        check_flow_levels(type(self).__name__, self.alpha, pc1, pc2, flows)
        total = flows[0].new_zeros(())
        for level, flow in enumerate(flows):
            total = total + self.alpha[level] * flow_smoothness(
                pc1[level], flow, self.k).mean()
        return self.loss_weight * total
