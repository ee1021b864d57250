"""FitNets hint loss between (adapted) student and teacher features."""
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from bpfn.registry import MODELS


def hint_loss(student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
    """Mean squared error of two feature maps.

    Args:
        student_feat (Tensor): Adapted student features (B, C, N).
        teacher_feat (Tensor): Teacher features (B, C, N).

    Returns:
        Tensor: Scalar, ``mean((student - teacher) ** 2)``.
    """
    if student_feat.shape != teacher_feat.shape:
        raise ValueError('hint_loss: student and teacher features differ in '
                         f'shape: {tuple(student_feat.shape)} vs '
                         f'{tuple(teacher_feat.shape)}')
    return F.mse_loss(student_feat, teacher_feat)


@MODELS.register_module()
class HintLoss(nn.Module):
    """FitNets hint: L2 between adapted student and teacher features.

    In a distiller entry, ``student`` and ``teacher`` name one module each
    (see :class:`SceneFlowDistiller`).

    Args:
        loss_weight (float): Factor on the loss. Defaults to 0.3.
    """

    uses_outputs = False
    gt_loss_factor = 1.0

    def __init__(self, loss_weight: float = 0.3) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor]) -> Tensor:
        """Weighted mean of :func:`hint_loss` over the entry's pairs."""
        total = sum(hint_loss(s, t) for s, t in zip(student_feats,
                                                    teacher_feats))
        return self.loss_weight * total / len(student_feats)
