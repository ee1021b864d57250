"""Bi-directional hint: hints on both directions of a cross layer."""
from typing import Sequence

from torch import Tensor

from bpfn.registry import MODELS
from .hint_loss import HintLoss, hint_loss


def bihint_loss(student_12: Tensor, teacher_12: Tensor, student_21: Tensor,
                teacher_21: Tensor) -> Tensor:
    """Sum of the hints of the two directions.

    Args:
        student_12 (Tensor): Adapted student pc1->pc2 embedding (B, C, N1).
        teacher_12 (Tensor): Teacher pc1->pc2 embedding (B, C, N1).
        student_21 (Tensor): Adapted student pc2->pc1 embedding (B, C, N2).
        teacher_21 (Tensor): Teacher pc2->pc1 embedding (B, C, N2).

    Returns:
        Tensor: Scalar loss.
    """
    return hint_loss(student_12, teacher_12) + hint_loss(student_21,
                                                         teacher_21)


@MODELS.register_module()
class BiHintLoss(HintLoss):
    """Hints on ``crossL.embedding_12`` and ``crossL.embedding_21``.

    In a distiller entry, ``student`` / ``teacher`` may name the cross layer
    itself (``'cross2'``): the distiller then expands it to its two
    directions, each pair with its own adapter. Explicit lists of names are
    accepted too.

    Args:
        loss_weight (float): Factor on the loss. Defaults to 0.3.
    """

    #: Identity taps a cross-layer name expands to.
    directions = ('embedding_12', 'embedding_21')

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor]) -> Tensor:
        """Weighted sum of the hints of all pairs (two per cross layer)."""
        total = sum(hint_loss(s, t) for s, t in zip(student_feats,
                                                    teacher_feats))
        return self.loss_weight * total
