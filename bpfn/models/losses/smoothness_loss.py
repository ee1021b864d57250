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
from torch import Tensor

from bpfn.ops import group_points, knn
from bpfn.registry import MODELS
from .multi_scale_loss import DEFAULT_ALPHA
from .self_supervised_loss import BaseSelfSupervisedLoss


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
class SmoothnessLoss(BaseSelfSupervisedLoss):
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

    def __init__(self, alpha: Sequence[float] = DEFAULT_ALPHA, k: int = 9,
                 loss_weight: float = 1.0) -> None:
        if int(k) < 2:
            raise ValueError(f'SmoothnessLoss: k must be >= 2, got {k}')
        super().__init__(alpha, loss_weight)
        self.k = int(k)

    def sample_loss(self, pc1: Tensor, pc2: Tensor, flow: Tensor) -> Tensor:
        """:func:`flow_smoothness` per sample (B,); ``pc2`` is unused (one
        signature for the self-supervised losses)."""
        return flow_smoothness(pc1, flow, self.k)
