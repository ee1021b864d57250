"""Adaptive imitation loss (AIL): imitate the teacher where it is right."""
from typing import List, Sequence

import torch
from torch import Tensor, nn

from bpfn.registry import MODELS
from .multi_scale_loss import DEFAULT_ALPHA, multi_scale_loss


def ail_weights(teacher_flow: Tensor, gt_flow: Tensor,
                eps: float = 1e-12) -> Tensor:
    """Per-point trust in the teacher, ``phi = 1 - (e - e_min) / eta``.

    ``e`` is the teacher's end-point error, ``e_min``/``e_max`` its extremes
    over the whole batch and ``eta = e_max - e_min``; ``phi`` is clamped to
    [0, 1] (1 at the teacher's best point, 0 at its worst). A batch where
    all errors are equal gives ``phi = 1`` everywhere.

    Args:
        teacher_flow (Tensor): Teacher flow (B, N, 3).
        gt_flow (Tensor): Ground truth (B, N, 3).
        eps (float): Floor of ``eta``. Defaults to 1e-12.

    Returns:
        Tensor: Weights (B, N), detached.
    """
    err = torch.norm(teacher_flow.detach() - gt_flow, dim=-1)
    e_min, e_max = err.min(), err.max()
    eta = (e_max - e_min).clamp_min(eps)
    return (1.0 - (err - e_min) / eta).clamp(0.0, 1.0)


def ail_kd_term(student_flows: Sequence[Tensor],
                teacher_targets: Sequence[Tensor],
                gt_targets: Sequence[Tensor],
                scale_weights: Sequence[float] = DEFAULT_ALPHA) -> Tensor:
    """Multi-scale ``sum_i phi_i * ||p_S - p_T||`` (the imitation term).

    Args:
        student_flows (Sequence[Tensor]): Student flows (B, 3, N_l).
        teacher_targets (Sequence[Tensor]): Teacher flows at the student's
            points (B, N_l, 3).
        gt_targets (Sequence[Tensor]): Ground truth at the student's points
            (B, N_l, 3).
        scale_weights (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).

    Returns:
        Tensor: Scalar loss.
    """
    phi: List[Tensor] = [ail_weights(t, g) for t, g in zip(teacher_targets,
                                                           gt_targets)]
    return multi_scale_loss(student_flows, teacher_targets, scale_weights,
                            weight=phi)


def ail_loss(student_flows: Sequence[Tensor],
             teacher_targets: Sequence[Tensor],
             gt_targets: Sequence[Tensor],
             alpha: float = 0.5,
             scale_weights: Sequence[float] = DEFAULT_ALPHA) -> Tensor:
    """Full AIL, per point ``a*||p_S - p_gt|| + (1-a)*phi*||p_S - p_T||``.

    Summed over points, averaged over the batch and weighted per level like
    the GT loss (:func:`multi_scale_loss`).

    Args:
        student_flows (Sequence[Tensor]): Student flows (B, 3, N_l).
        teacher_targets (Sequence[Tensor]): Teacher flows (B, N_l, 3).
        gt_targets (Sequence[Tensor]): Ground truth (B, N_l, 3).
        alpha (float): Weight of the GT term. Defaults to 0.5.
        scale_weights (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).

    Returns:
        Tensor: Scalar loss.
    """
    gt = multi_scale_loss(student_flows, gt_targets, scale_weights)
    kd = ail_kd_term(student_flows, teacher_targets, gt_targets,
                     scale_weights)
    return alpha * gt + (1.0 - alpha) * kd


@MODELS.register_module()
class AILLoss(nn.Module):
    """Adaptive imitation loss with ``loss_weight = 1 - alpha``.

    The module returns the imitation term ``(1 - alpha) * sum phi*||S - T||``
    and sets :attr:`gt_loss_factor` to ``alpha``, so the distiller's total
    (with ``gt_loss_weight=1``) is exactly :func:`ail_loss`; a KD weight
    schedule that lowers ``loss_weight`` moves the mix towards pure GT.

    Args:
        scale_weights (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        loss_weight (float): ``1 - alpha``. Defaults to 0.5.
    """

    uses_outputs = True

    def __init__(self,
                 scale_weights: Sequence[float] = DEFAULT_ALPHA,
                 loss_weight: float = 0.5) -> None:
        super().__init__()
        self.scale_weights = tuple(scale_weights)
        self.loss_weight = loss_weight

    @property
    def gt_loss_factor(self) -> float:
        """alpha = 1 - loss_weight."""
        return 1.0 - self.loss_weight

    def forward(self, student_flows: Sequence[Tensor],
                teacher_targets: Sequence[Tensor],
                gt_targets: Sequence[Tensor]) -> Tensor:
        """Weighted imitation term of :func:`ail_kd_term`."""
        return self.loss_weight * ail_kd_term(student_flows, teacher_targets,
                                              gt_targets, self.scale_weights)
