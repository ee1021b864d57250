"""The two kinds of distillation loss that a distiller dispatches on.

:class:`~bpfn.models.distillers.SceneFlowDistiller` routes each entry of
``model.distill_losses`` by the loss's base class:

- a :class:`BaseFeatureDistillLoss` compares the recorded outputs of the
  modules its entry names (``student`` / ``teacher``), student features
  passed through the entry's adapter first;
- a :class:`BaseOutputDistillLoss` compares the student's flows with the
  teacher's at the student's points (and may use the ground truth).

A new distillation method is one subclass of either, registered in
``MODELS``: the distiller needs no change.
"""
from typing import List, Optional, Sequence

from torch import Tensor, nn


class BaseDistillLoss(nn.Module):
    """What every distillation loss tells the distiller.

    Attributes:
        loss_weight (float): Factor on the loss; the KD weight schedules
            (:class:`~bpfn.engine.hooks.KDWeightScheduleHook`) change it.
    """

    loss_weight: float

    @property
    def gt_loss_factor(self) -> float:
        """Factor on the student's GT loss (1 unless the method mixes)."""
        return 1.0

    def unlabeled_note(self) -> Optional[str]:
        """What the loss does with samples without ground truth, logged
        once when a batch has some; None when nothing needs saying."""
        return None


class BaseFeatureDistillLoss(BaseDistillLoss):
    """A loss on pairs of recorded student and teacher features.

    Its distiller entry names the paired modules: ``student`` and
    ``teacher``, one name each or lists of equal length (``'name[i]'``
    takes item ``i`` of a module returning a tuple), and optionally an
    ``adapter`` built per pair.
    """

    def check_taps(self, student: List[str], teacher: List[str],
                   field: str) -> None:
        """Refuse pairs the loss cannot compare (before any hook is set).

        Args:
            student (list[str]): Student module names of the entry.
            teacher (list[str]): Teacher module names, pair by pair.
            field (str): Config field of the entry, for messages.
        """

    def forward(self, student_feats: Sequence[Tensor],
                teacher_feats: Sequence[Tensor]) -> Tensor:
        """The loss of the pairs.

        Args:
            student_feats (Sequence[Tensor]): Adapted student features,
                (B, N, C) per pair.
            teacher_feats (Sequence[Tensor]): Teacher features, (B, N, C)
                per pair.

        Returns:
            Tensor: Scalar loss.
        """
        raise NotImplementedError


class BaseOutputDistillLoss(BaseDistillLoss):
    """A loss on the student's flows against the teacher's."""

    def forward(self, student_flows: Sequence[Tensor],
                teacher_targets: Sequence[Tensor],
                gt_targets: Sequence[Tensor],
                labeled: Optional[Tensor] = None) -> Tensor:
        """The loss of one batch.

        Args:
            student_flows (Sequence[Tensor]): Student flows (B, N_l, 3),
                full resolution first.
            teacher_targets (Sequence[Tensor]): Teacher flows at the
                student's points (B, N_l, 3).
            gt_targets (Sequence[Tensor]): Ground truth at the student's
                points (B, N_l, 3), zeros on the rows of samples without.
            labeled (Tensor, optional): Which samples have ground truth,
                (B,) bool. Defaults to None (all of them).

        Returns:
            Tensor: Scalar loss.
        """
        raise NotImplementedError
