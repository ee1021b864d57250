"""Multi-scale supervised scene-flow loss of PointPWC-Net and BPF."""
from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from bpfn.ops import gather_points
from bpfn.registry import MODELS

DEFAULT_ALPHA = (0.02, 0.04, 0.08, 0.16)


def subsample_flow(gt_flow: Tensor, fps_idx: Sequence[Tensor]) -> List[Tensor]:
    """Ground truth at every pyramid level by following the sampling chain.

    Args:
        gt_flow (Tensor): Full-resolution flow, shape (B, N, 3).
        fps_idx (Sequence[Tensor]): Sampling indices of levels 1.., each
            (B, S_l) into the previous level.

    Returns:
        list[Tensor]: Flows (B, N_l, 3), full resolution first.
    """
    flows = [gt_flow]
    for idx in fps_idx:
        flows.append(gather_points(flows[-1], idx))
    return flows


def multi_scale_loss(pred_flows: Sequence[Tensor],
                     targets: Sequence[Tensor],
                     alpha: Sequence[float] = DEFAULT_ALPHA,
                     weight: Optional[Sequence[Tensor]] = None) -> Tensor:
    """``sum_l alpha_l * mean_b(sum_i ||pred - target||_2)``.

    Args:
        pred_flows (Sequence[Tensor]): Flows (B, N_l, 3), full resolution
            first.
        targets (Sequence[Tensor]): Targets (B, N_l, 3) of the same levels.
        alpha (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        weight (Sequence[Tensor], optional): Per-point weights (B, N_l).

    Returns:
        Tensor: Scalar loss.
    """
    if len(alpha) < len(pred_flows):
        raise ValueError(f'multi_scale_loss: {len(pred_flows)} levels but '
                         f'only {len(alpha)} alpha weights')
    total = pred_flows[0].new_zeros(())
    for level, (pred, target) in enumerate(zip(pred_flows, targets)):
        err = torch.norm(pred - target, dim=2)
        if weight is not None:
            err = err * weight[level]
        total = total + alpha[level] * err.sum(dim=1).mean()
    return total


@MODELS.register_module()
class MultiScaleLoss(nn.Module):
    """Multi-scale L2 loss against ground truth subsampled per level.

    Args:
        alpha (Sequence[float]): Level weights, full resolution first.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    def __init__(self,
                 alpha: Sequence[float] = DEFAULT_ALPHA,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = tuple(alpha)
        self.loss_weight = loss_weight

    def forward(self, pred_flows: Sequence[Tensor], gt_flow: Tensor,
                fps_idx: Sequence[Tensor]) -> Tensor:
        """Loss of flows (B, N_l, 3) against ground truth (B, N, 3)."""
        targets = subsample_flow(gt_flow, fps_idx[:len(pred_flows) - 1])
        return self.loss_weight * multi_scale_loss(pred_flows, targets,
                                                   self.alpha)
