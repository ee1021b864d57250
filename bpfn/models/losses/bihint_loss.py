"""Bi-directional hint: hints on both directions of a cross layer."""
from torch import Tensor

from bpfn.registry import MODELS
from .hint_loss import HintLoss, hint_loss


def bihint_loss(student_12: Tensor, teacher_12: Tensor, student_21: Tensor,
                teacher_21: Tensor, reduction: str = 'sum') -> Tensor:
    """The hints of the two directions, summed.

    ``L = hint(s_12, t_12) + hint(s_21, t_21)`` with :func:`hint_loss`
    (by default ``1/2`` sum of squares over channels and points, mean over
    the batch, per direction): the same as :class:`HintLoss` with the two
    directions as two pairs.

    Args:
        student_12 (Tensor): Adapted student pc1->pc2 embedding (B, C, N1).
        teacher_12 (Tensor): Teacher pc1->pc2 embedding (B, C, N1).
        student_21 (Tensor): Adapted student pc2->pc1 embedding (B, C, N2).
        teacher_21 (Tensor): Teacher pc2->pc1 embedding (B, C, N2).
        reduction (str): Reduction of each direction, ``'sum'`` or
            ``'mean'`` (see :func:`hint_loss`). Defaults to ``'sum'``.

    Returns:
        Tensor: Scalar loss.
    """
    return hint_loss(student_12, teacher_12, reduction) + hint_loss(
        student_21, teacher_21, reduction)


@MODELS.register_module()
class BiHintLoss(HintLoss):
    """Hints on ``crossL.embedding_12`` and ``crossL.embedding_21``.

    ``loss_weight * (hint_12 + hint_21)``: one :func:`hint_loss` per
    direction, summed over the directions, as :class:`HintLoss` sums over
    its pairs. In a distiller entry, ``student`` / ``teacher`` may name the
    cross layer itself (``'cross2'``): the distiller then expands it to its
    two directions, each pair with its own adapter. Explicit lists of names
    are accepted too.

    Args:
        loss_weight (float): Factor on the loss. Defaults to 0.3.
        reduction (str): Reduction of each direction, ``'sum'`` (FitNets)
            or ``'mean'``. Defaults to ``'sum'``.
    """

    #: Identity taps a cross-layer name expands to.
    directions = ('embedding_12', 'embedding_21')
