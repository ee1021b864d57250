"""Attentive imitation loss (AIL): imitate the teacher where it is right.

Saputra et al., "Distilling Knowledge From a Deep Pose Regressor Network",
ICCV 2019, eq. (8)-(9)::

    L = 1/n sum_i [ alpha ||p_S - p_gt||^2_i
                    + (1 - alpha) Phi_i ||p_S - p_T||^2_i ]
    Phi_i = 1 - ||p_T - p_gt||^2_i / eta,   eta = max_j e_j - min_j e_j,
    e_j = ||p_T - p_gt||^2_j  for every sample j of the training set.

In bpfn a point plays the role of a sample, per pyramid level; ``e`` is the
teacher's squared end-point error (the paper's choice) or, with
``squared=False``, its end-point error; ``e_min`` / ``e_max`` come from a
pass of the frozen teacher over the training data
(:class:`~bpfn.engine.hooks.AILErrorRangeHook`). The two terms use the
multi-scale L2 of BPF (:func:`multi_scale_loss`: end-point errors summed
over points, mean over the batch, level weights), so the GT term is exactly
the student's own loss.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from bpfn.registry import MODELS
from .distill_loss import BaseOutputDistillLoss
from .multi_scale_loss import DEFAULT_ALPHA, multi_scale_loss

#: Where ``e_min`` / ``e_max`` come from: the teacher's errors over the
#: training set (the paper) or over the current batch.
AIL_ERROR_RANGES = ('train_set', 'batch')

#: ``(e_min, e_max)`` of one level.
ErrorRange = Tuple[float, float]


def teacher_errors(teacher_flow: Tensor, gt_flow: Tensor,
                   squared: bool = True) -> Tensor:
    """Per-point teacher error ``e = ||p_T - p_gt||^2`` (or ``||.||``).

    Args:
        teacher_flow (Tensor): Teacher flow (B, N, 3).
        gt_flow (Tensor): Ground truth (B, N, 3).
        squared (bool): Square the end-point error (the paper's choice).
            Defaults to True.

    Returns:
        Tensor: Errors (B, N), detached.
    """
    err = torch.norm(teacher_flow.detach() - gt_flow.detach(), dim=-1)
    return err * err if squared else err


def ail_weights(teacher_flow: Tensor, gt_flow: Tensor,
                error_range: Optional[ErrorRange] = None,
                squared: bool = True, eps: float = 1e-12,
                labeled: Optional[Tensor] = None,
                unlabeled_phi: float = 1.0) -> Tensor:
    """Per-point trust in the teacher, ``Phi = 1 - e / eta``.

    ``e`` is :func:`teacher_errors` and ``eta = e_max - e_min``, the range
    of the teacher's errors over the training set (``error_range``) or,
    when ``error_range`` is None, over this batch (its labelled samples).
    ``Phi`` is clamped to [0, 1]: a point the teacher gets right has
    ``Phi`` near 1; ``Phi`` is 0 where ``e >= eta`` (the worst training
    points when ``e_min`` is 0, and points beyond the measured range).

    A sample without ground truth (``labeled`` False) has no teacher error:
    all its points get ``Phi = unlabeled_phi`` (1 by default: the teacher
    is imitated there as by plain output KD).

    Args:
        teacher_flow (Tensor): Teacher flow (B, N, 3).
        gt_flow (Tensor): Ground truth (B, N, 3); rows of unlabelled
            samples are ignored (any values, e.g. zeros).
        error_range (tuple[float, float], optional): ``(e_min, e_max)``.
            Defaults to None (the batch's).
        squared (bool): Squared errors. Defaults to True.
        eps (float): Floor of ``eta``. Defaults to 1e-12.
        labeled (Tensor, optional): Which samples have ground truth (B,)
            bool. Defaults to None (all of them).
        unlabeled_phi (float): ``Phi`` of the unlabelled samples' points.
            Defaults to 1.0.

    Returns:
        Tensor: Weights (B, N), detached.
    """
    err = teacher_errors(teacher_flow, gt_flow, squared)
    if labeled is not None and not bool(labeled.all()):
        labeled = labeled.to(device=err.device, dtype=torch.bool)
        phi = torch.full_like(err, float(unlabeled_phi))
        if bool(labeled.any()):
            phi[labeled] = ail_weights(teacher_flow[labeled],
                                       gt_flow[labeled], error_range,
                                       squared, eps)
        return phi
    if error_range is None:
        e_min, e_max = float(err.min()), float(err.max())
    else:
        e_min, e_max = (float(v) for v in error_range)
    eta = max(e_max - e_min, eps)
    return (1.0 - err / eta).clamp(0.0, 1.0)


def ail_kd_term(student_flows: Sequence[Tensor],
                teacher_targets: Sequence[Tensor],
                gt_targets: Sequence[Tensor],
                scale_weights: Sequence[float] = DEFAULT_ALPHA,
                error_ranges: Optional[Sequence[ErrorRange]] = None,
                squared: bool = True,
                labeled: Optional[Tensor] = None,
                unlabeled_phi: float = 1.0) -> Tensor:
    """Multi-scale ``sum_l a_l mean_b sum_i Phi_i ||p_S - p_T||_i``.

    The mean is over every sample of the batch, labelled or not (see
    :func:`ail_weights` for ``Phi`` of an unlabelled sample).

    Args:
        student_flows (Sequence[Tensor]): Student flows (B, N_l, 3).
        teacher_targets (Sequence[Tensor]): Teacher flows at the student's
            points (B, N_l, 3).
        gt_targets (Sequence[Tensor]): Ground truth at the student's points
            (B, N_l, 3); rows of unlabelled samples are ignored.
        scale_weights (Sequence[float]): Level weights ``a_l``.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        error_ranges (Sequence[tuple], optional): ``(e_min, e_max)`` per
            level. Defaults to None (each batch's).
        squared (bool): Squared teacher errors in ``Phi``.
            Defaults to True.
        labeled (Tensor, optional): Which samples have ground truth (B,)
            bool. Defaults to None (all of them).
        unlabeled_phi (float): ``Phi`` on the unlabelled samples.
            Defaults to 1.0.

    Returns:
        Tensor: Scalar loss.
    """
    if error_ranges is not None and len(error_ranges) < len(student_flows):
        raise ValueError(f'ail_kd_term: {len(student_flows)} levels but '
                         f'error ranges of {len(error_ranges)} levels')
    phi: List[Tensor] = [
        ail_weights(t, g, None if error_ranges is None else error_ranges[i],
                    squared, labeled=labeled, unlabeled_phi=unlabeled_phi)
        for i, (t, g) in enumerate(zip(teacher_targets, gt_targets))
    ]
    return multi_scale_loss(student_flows, teacher_targets, scale_weights,
                            weight=phi)


def ail_loss(student_flows: Sequence[Tensor],
             teacher_targets: Sequence[Tensor],
             gt_targets: Sequence[Tensor],
             alpha: float = 0.5,
             scale_weights: Sequence[float] = DEFAULT_ALPHA,
             error_ranges: Optional[Sequence[ErrorRange]] = None,
             squared: bool = True) -> Tensor:
    """Full AIL, per point ``a*||p_S - p_gt|| + (1-a)*Phi*||p_S - p_T||``.

    Summed over points, averaged over the batch and weighted per level like
    the GT loss (:func:`multi_scale_loss`).

    Args:
        student_flows (Sequence[Tensor]): Student flows (B, N_l, 3).
        teacher_targets (Sequence[Tensor]): Teacher flows (B, N_l, 3).
        gt_targets (Sequence[Tensor]): Ground truth (B, N_l, 3).
        alpha (float): Weight of the GT term. Defaults to 0.5.
        scale_weights (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        error_ranges (Sequence[tuple], optional): ``(e_min, e_max)`` per
            level. Defaults to None (each batch's).
        squared (bool): Squared teacher errors in ``Phi``.
            Defaults to True.

    Returns:
        Tensor: Scalar loss.
    """
    gt = multi_scale_loss(student_flows, gt_targets, scale_weights)
    kd = ail_kd_term(student_flows, teacher_targets, gt_targets,
                     scale_weights, error_ranges, squared)
    return alpha * gt + (1.0 - alpha) * kd


@MODELS.register_module()
class AILLoss(BaseOutputDistillLoss):
    """Attentive imitation loss with ``loss_weight = 1 - alpha``.

    The module returns the imitation term
    ``(1 - alpha) * sum_l a_l mean_b sum_i Phi_i ||p_S - p_T||_i`` and sets
    :attr:`gt_loss_factor` to ``alpha``, so the distiller's total (with
    ``gt_loss_weight=1``) is exactly :func:`ail_loss`; a KD weight schedule
    that lowers ``loss_weight`` moves the mix towards pure GT. See the
    module docstring for the paper's equations.

    With ``error_range='train_set'`` (the paper), ``e_min`` / ``e_max`` of
    every level must be set before training (:meth:`set_error_range`, done
    by :class:`~bpfn.engine.hooks.AILErrorRangeHook` from a pass of the
    frozen teacher over the training data); using the loss before is an
    error. ``error_range='batch'`` takes them from each batch instead, so
    every batch has a point of full and one of no trust whatever the
    teacher's quality.

    Samples without ground truth (``labeled`` False in :meth:`forward`,
    e.g. unlabelled scans in a mixed batch) have no teacher error to weigh
    the teacher by: their points get ``Phi = unlabeled_phi``. The default
    1.0 imitates the teacher fully there (the imitation term of those
    samples is plain output KD with weight ``1 - alpha``); 0.0 drops them
    from the loss. Their GT term is skipped by the distiller.

    Args:
        scale_weights (Sequence[float]): Level weights.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        loss_weight (float): ``1 - alpha``. Defaults to 0.5.
        error_range (str): ``'train_set'`` or ``'batch'``.
            Defaults to ``'train_set'``.
        squared (bool): ``Phi`` from squared end-point errors of the
            teacher (the paper's choice) or plain ones. Defaults to True.
        unlabeled_phi (float): ``Phi`` of the points of samples without
            ground truth, in [0, 1]. Defaults to 1.0.
    """

    def __init__(self,
                 scale_weights: Sequence[float] = DEFAULT_ALPHA,
                 loss_weight: float = 0.5,
                 error_range: str = 'train_set',
                 squared: bool = True,
                 unlabeled_phi: float = 1.0) -> None:
        super().__init__()
        if error_range not in AIL_ERROR_RANGES:
            raise ValueError(f'AILLoss: error_range must be one of '
                             f'{AIL_ERROR_RANGES}, got {error_range!r}')
        if not 0.0 <= float(unlabeled_phi) <= 1.0:
            raise ValueError('AILLoss: unlabeled_phi must be in [0, 1], got '
                             f'{unlabeled_phi}')
        self.unlabeled_phi = float(unlabeled_phi)
        self.scale_weights = tuple(scale_weights)
        self.loss_weight = loss_weight
        self.error_range = error_range
        self.squared = bool(squared)
        #: ``(e_min, e_max)`` per level, from the training set.
        self.error_ranges: Optional[List[ErrorRange]] = None

    @property
    def gt_loss_factor(self) -> float:
        """alpha = 1 - loss_weight."""
        return 1.0 - self.loss_weight

    def unlabeled_note(self) -> str:
        """The trust given to points of samples without ground truth."""
        return ('samples without ground truth have no teacher error to weigh '
                f'the teacher by; their points get Phi = '
                f'{self.unlabeled_phi:g} (unlabeled_phi; 1 imitates the '
                'teacher fully, 0 ignores those samples)')

    def set_error_range(self, error_ranges: Sequence[ErrorRange]) -> None:
        """Set the teacher's training-set ``(e_min, e_max)`` of each level.

        Args:
            error_ranges (Sequence[tuple[float, float]]): One pair per
                level, full resolution first.
        """
        ranges = [(float(lo), float(hi)) for lo, hi in error_ranges]
        for level, (lo, hi) in enumerate(ranges):
            if not (0.0 <= lo <= hi and math.isfinite(hi)):
                raise ValueError(f'AILLoss: error range of level {level} '
                                 f'must satisfy 0 <= e_min <= e_max, got '
                                 f'({lo}, {hi})')
        self.error_ranges = ranges

    def forward(self, student_flows: Sequence[Tensor],
                teacher_targets: Sequence[Tensor],
                gt_targets: Sequence[Tensor],
                labeled: Optional[Tensor] = None) -> Tensor:
        """Weighted imitation term of :func:`ail_kd_term`.

        Args:
            student_flows (Sequence[Tensor]): Student flows (B, N_l, 3).
            teacher_targets (Sequence[Tensor]): Teacher flows (B, N_l, 3).
            gt_targets (Sequence[Tensor]): Ground truth (B, N_l, 3); rows
                of unlabelled samples are ignored.
            labeled (Tensor, optional): Which samples have ground truth
                (B,) bool. Defaults to None (all of them).

        Returns:
            Tensor: Scalar loss.
        """
        ranges = None
        if self.error_range == 'train_set':
            if self.error_ranges is None:
                raise RuntimeError(
                    "AILLoss(error_range='train_set') has no training-set "
                    'error range of the teacher: add '
                    "dict(type='AILErrorRangeHook') to custom_hooks (it "
                    'measures e_min / e_max before the first epoch), or '
                    "set error_range='batch'")
            ranges = self.error_ranges
        return self.loss_weight * ail_kd_term(
            student_flows, teacher_targets, gt_targets, self.scale_weights,
            ranges, self.squared, labeled, self.unlabeled_phi)
