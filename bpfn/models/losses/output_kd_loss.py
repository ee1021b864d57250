"""Output (response) distillation: student flows against teacher flows."""
from typing import Optional, Sequence

from torch import Tensor

from bpfn.registry import MODELS
from .distill_loss import BaseOutputDistillLoss
from .multi_scale_loss import DEFAULT_ALPHA, multi_scale_loss

_MODES = ('add', 'mix')


def output_kd_loss(student_flows: Sequence[Tensor],
                   teacher_targets: Sequence[Tensor],
                   alpha: Sequence[float] = DEFAULT_ALPHA) -> Tensor:
    """Multi-scale L2 loss of the student's flows against the teacher's.

    The teacher plays the ground truth's role in :func:`multi_scale_loss`.

    Args:
        student_flows (Sequence[Tensor]): Student flows (B, N_l, 3), full
            resolution first.
        teacher_targets (Sequence[Tensor]): Teacher flows at the student's
            points, (B, N_l, 3) per level (the distiller runs the teacher
            without gradients; meta-KD lets them flow).
        alpha (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).

    Returns:
        Tensor: Scalar loss.
    """
    return multi_scale_loss(student_flows, teacher_targets, alpha)


@MODELS.register_module()
class OutputKDLoss(BaseOutputDistillLoss):
    """Output KD of scene flow (gamma = ``loss_weight``).

    With ``mode='add'`` the distiller's loss is ``GT + gamma * KD``; with
    ``mode='mix'`` it is ``(1 - gamma) * GT + gamma * KD``
    (:attr:`gt_loss_factor` tells the distiller how to scale its GT loss).

    Args:
        alpha (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        mode (str): ``'add'`` or ``'mix'``. Defaults to ``'add'``.
        loss_weight (float): gamma. Defaults to 0.3.
    """

    def __init__(self,
                 alpha: Sequence[float] = DEFAULT_ALPHA,
                 mode: str = 'add',
                 loss_weight: float = 0.3) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f'OutputKDLoss: mode must be one of {_MODES}, '
                             f'got {mode!r}')
        self.alpha = tuple(alpha)
        self.mode = mode
        self.loss_weight = loss_weight

    @property
    def gt_loss_factor(self) -> float:
        """Factor of the distiller's GT loss: 1 (add) or 1 - gamma (mix)."""
        return 1.0 - self.loss_weight if self.mode == 'mix' else 1.0

    def forward(self, student_flows: Sequence[Tensor],
                teacher_targets: Sequence[Tensor],
                gt_targets: Optional[Sequence[Tensor]] = None,
                labeled: Optional[Tensor] = None) -> Tensor:
        """Weighted loss against the teacher, on every sample.

        Args:
            student_flows (Sequence[Tensor]): Student flows (B, N_l, 3).
            teacher_targets (Sequence[Tensor]): Teacher flows (B, N_l, 3).
            gt_targets (Sequence[Tensor], optional): Unused (the targets
                come from the teacher, also on samples without ground
                truth).
            labeled (Tensor, optional): Unused, see ``gt_targets``.

        Returns:
            Tensor: Scalar loss.
        """
        return self.loss_weight * output_kd_loss(student_flows,
                                                 teacher_targets, self.alpha)
