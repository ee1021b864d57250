"""FitNets hint loss between (adapted) student and teacher features."""
from typing import Sequence

from torch import Tensor

from bpfn.registry import MODELS
from .distill_loss import BaseFeatureDistillLoss

#: ``'sum'``: FitNets' ``1/2 ||u - r(v)||^2`` summed over the elements of a
#: sample (mean over the batch); ``'mean'``: the mean over all elements.
HINT_REDUCTIONS = ('sum', 'mean')


def hint_loss(student_feat: Tensor, teacher_feat: Tensor,
              reduction: str = 'sum') -> Tensor:
    """FitNets hint of one pair of feature maps.

    With ``reduction='sum'`` (FitNets, Romero et al. 2015, eq. 3)::

        L = 1/B sum_b 1/2 sum_{n, c} (s_bnc - t_bnc)^2

    the teacher's hint ``u_h(x)`` being ``t`` and the adapted student's
    guided layer ``r(v_g(x))`` being ``s``; the sum over channels and
    points makes it commensurate with the GT loss, which also sums over
    points. With ``reduction='mean'`` it is ``mean_{b,n,c} (s - t)^2``.

    Args:
        student_feat (Tensor): Adapted student features (B, N, C).
        teacher_feat (Tensor): Teacher features (B, N, C).
        reduction (str): ``'sum'`` or ``'mean'``. Defaults to ``'sum'``.

    Returns:
        Tensor: Scalar loss.
    """
    if student_feat.shape != teacher_feat.shape:
        raise ValueError('hint_loss: student and teacher features differ in '
                         f'shape: {tuple(student_feat.shape)} vs '
                         f'{tuple(teacher_feat.shape)}')
    sq = (student_feat - teacher_feat).pow(2)
    if reduction == 'sum':
        return 0.5 * sq.flatten(1).sum(dim=1).mean()
    if reduction == 'mean':
        return sq.mean()
    raise ValueError(f'hint_loss: reduction must be one of {HINT_REDUCTIONS}, '
                     f'got {reduction!r}')


@MODELS.register_module()
class HintLoss(BaseFeatureDistillLoss):
    """FitNets hint: L2 between adapted student and teacher features.

    ``loss_weight * sum_pairs hint_loss(s, t)``: the hints of an entry's
    pairs are summed (the same rule as :class:`BiHintLoss`, which is this
    loss with the two directions of a cross layer as its pairs). In a
    distiller entry, ``student`` and ``teacher`` name one module each, or
    lists of equal length (see :class:`SceneFlowDistiller`).

    Args:
        loss_weight (float): Factor on the loss. Defaults to 0.3.
        reduction (str): Per pair, ``'sum'`` (FitNets: ``1/2`` sum of
            squares over channels and points, mean over the batch) or
            ``'mean'`` (mean over batch, channels and points).
            Defaults to ``'sum'``.
    """

    def __init__(self, loss_weight: float = 0.3,
                 reduction: str = 'sum') -> None:
        super().__init__()
        if reduction not in HINT_REDUCTIONS:
            raise ValueError(f'{type(self).__name__}: reduction must be one '
                             f'of {HINT_REDUCTIONS}, got {reduction!r}')
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor]) -> Tensor:
        """``loss_weight`` times the sum of :func:`hint_loss` over pairs
        (arguments as
        :meth:`~bpfn.models.losses.BaseFeatureDistillLoss.forward`: features
        (B, N, C) per pair)."""
        total = sum(hint_loss(s, t, self.reduction)
                    for s, t in zip(student_feats, teacher_feats))
        return self.loss_weight * total
