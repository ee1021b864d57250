"""The common frame of the self-supervised scene flow losses.

A self-supervised loss (PointPWC-Net's Chamfer, smoothness and Laplacian
terms) scores the student's flows against the two clouds alone, with no
ground truth and no teacher. Over a flow pyramid it is::

    loss_weight * sum_l a_l * mean_b E(pc1_l[b], pc2_l[b], flow_l[b])

with the level weights ``a_l`` of the supervised loss. A subclass gives the
per-sample term ``E`` (:meth:`BaseSelfSupervisedLoss.sample_loss`).
"""
from typing import Sequence

from torch import Tensor, nn

from .multi_scale_loss import DEFAULT_ALPHA


def check_flow_levels(name: str, alpha: Sequence[float],
                      pc1: Sequence[Tensor], pc2: Sequence[Tensor],
                      flows: Sequence[Tensor]) -> None:
    """Refuse clouds or level weights that do not cover every flow level.

    Args:
        name (str): Loss name for the message.
        alpha (Sequence[float]): Level weights.
        pc1 (Sequence[Tensor]): First cloud per level (B, N_l, 3).
        pc2 (Sequence[Tensor]): Second cloud per level (B, M_l, 3).
        flows (Sequence[Tensor]): Flows per level (B, N_l, 3).
    """
    if len(pc1) < len(flows) or len(pc2) < len(flows):
        raise ValueError(f'{name}: {len(flows)} flow levels but clouds of '
                         f'{len(pc1)} / {len(pc2)} levels')
    if len(alpha) < len(flows):
        raise ValueError(f'{name}: {len(flows)} flow levels but only '
                         f'{len(alpha)} level weights (alpha)')
    for level, (p, f) in enumerate(zip(pc1, flows)):
        if f.shape != p.shape:
            raise ValueError(f'{name}: level {level} flow {tuple(f.shape)} '
                             f'must have the shape of pc1 {tuple(p.shape)} '
                             '(B, N, 3)')


class BaseSelfSupervisedLoss(nn.Module):
    """A multi-scale self-supervised loss (see the module docstring).

    A self-supervised loss of
    :class:`~bpfn.models.distillers.SceneFlowDistiller`
    (``self_supervised_losses``).

    Args:
        alpha (Sequence[float]): Level weights a_l, full resolution first.
            Defaults to (0.02, 0.04, 0.08, 0.16).
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    def __init__(self, alpha: Sequence[float] = DEFAULT_ALPHA,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = tuple(alpha)
        self.loss_weight = loss_weight

    def sample_loss(self, pc1: Tensor, pc2: Tensor, flow: Tensor) -> Tensor:
        """The term of one level per sample.

        Args:
            pc1 (Tensor): First cloud (B, N, 3).
            pc2 (Tensor): Second cloud (B, M, 3).
            flow (Tensor): Flow of pc1 (B, N, 3).

        Returns:
            Tensor: (B,).
        """
        raise NotImplementedError

    def forward(self, pc1: Sequence[Tensor], pc2: Sequence[Tensor],
                flows: Sequence[Tensor]) -> Tensor:
        """Loss over the levels of ``flows``.

        Args:
            pc1 (Sequence[Tensor]): First cloud per level (B, N_l, 3).
            pc2 (Sequence[Tensor]): Second cloud per level (B, M_l, 3).
            flows (Sequence[Tensor]): Flows of pc1 per level (B, N_l, 3),
                full resolution first.

        Returns:
            Tensor: Scalar loss.
        """
        check_flow_levels(type(self).__name__, self.alpha, pc1, pc2, flows)
        total = flows[0].new_zeros(())
        for level, flow in enumerate(flows):
            total = total + self.alpha[level] * self.sample_loss(
                pc1[level], pc2[level], flow).mean()
        return self.loss_weight * total
