"""Bi-directional hint: hints on both directions of a cross layer."""
from typing import Dict, List, Set

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
        student_12 (Tensor): Adapted student pc1->pc2 embedding (B, N1, C).
        teacher_12 (Tensor): Teacher pc1->pc2 embedding (B, N1, C).
        student_21 (Tensor): Adapted student pc2->pc1 embedding (B, N2, C).
        teacher_21 (Tensor): Teacher pc2->pc1 embedding (B, N2, C).
        reduction (str): Reduction of each direction, ``'sum'`` or
            ``'mean'`` (see :func:`hint_loss`). Defaults to ``'sum'``.

    Returns:
        Tensor: Scalar loss.
    """
    return hint_loss(student_12, teacher_12, reduction) + hint_loss(
        student_21, teacher_21, reduction)


@MODELS.register_module()
class BiHintLoss(HintLoss):
    """Hints on both directions of cross layers.

    ``loss_weight * (hint_12 + hint_21)``: one :func:`hint_loss` per
    direction, summed over the directions, as :class:`HintLoss` sums over
    its pairs. In a distiller entry, ``student`` and ``teacher`` list both
    directions of every cross layer they tap, e.g.
    ``['cross2.embedding_12', 'cross2.embedding_21']``, each pair with its
    own adapter; :meth:`check_taps` refuses an entry that lacks one.

    Args:
        loss_weight (float): Factor on the loss. Defaults to 0.3.
        reduction (str): Reduction of each direction, ``'sum'`` (FitNets)
            or ``'mean'``. Defaults to ``'sum'``.
    """

    #: The modules of a cross layer's two directions (name suffixes).
    directions = ('embedding_12', 'embedding_21')

    def check_taps(self, student: List[str], teacher: List[str],
                   field: str) -> None:
        """Refuse names that are not both directions of cross layers
        (arguments as
        :meth:`~bpfn.models.losses.BaseFeatureDistillLoss.check_taps`)."""
        for role, names in (('student', student), ('teacher', teacher)):
            layers: Dict[str, Set[str]] = {}
            for name in names:
                layer, _, direction = name.rpartition('.')
                if direction not in self.directions or not layer:
                    raise ValueError(
                        f'{field}.{role}: BiHintLoss taps the directions of '
                        f"cross layers ('<layer>.embedding_12' and "
                        f"'<layer>.embedding_21'), got {name!r}; use HintLoss "
                        'for other modules')
                layers.setdefault(layer, set()).add(direction)
            for layer, found in layers.items():
                if len(found) < len(self.directions):
                    missing = [f'{layer}.{d}' for d in self.directions
                               if d not in found]
                    raise ValueError(
                        f'{field}.{role}: BiHintLoss needs both directions of '
                        f'{layer!r}; add {missing}')
