"""The self-supervised terms of a distiller, and the samples they train on."""
from typing import Dict, List, Sequence

import torch
from torch import Tensor, nn

from bpfn.registry import MODELS
from ..losses import BaseSelfSupervisedLoss
from .labeled_batches import select_samples

#: Which samples the self-supervised losses train on.
SELF_SUPERVISED_ON = ('unlabeled', 'all')


class SelfSupervisedTerms(nn.ModuleList):
    """A distiller's self-supervised losses (PointPWC-Net's ``ChamferLoss``,
    ``SmoothnessLoss``, ``LaplacianLoss``), at most one of each type.

    Each term is its loss (a mean over samples) on the samples without
    ground truth (``on='unlabeled'``) or on all of them (``'all'``), 0 in a
    batch without any of those. They need no teacher.

    Args:
        cfgs (Sequence[dict]): Loss configs
            (``model.self_supervised_losses``).
        on (str): ``'unlabeled'`` or ``'all'``. Defaults to
            ``'unlabeled'``.
    """

    def __init__(self, cfgs: Sequence[dict] = (),
                 on: str = 'unlabeled') -> None:
        super().__init__()
        if on not in SELF_SUPERVISED_ON:
            raise ValueError(f'model.self_supervised_on must be one of '
                             f'{SELF_SUPERVISED_ON}, got {on!r}')
        self.on = on
        for i, cfg in enumerate(cfgs):
            field = f'model.self_supervised_losses[{i}]'
            loss = MODELS.build(dict(cfg))
            if not isinstance(loss, BaseSelfSupervisedLoss):
                raise ValueError(
                    f'{field}: {type(loss).__name__} is not a '
                    'self-supervised loss (ChamferLoss, SmoothnessLoss, '
                    'LaplacianLoss); distillation losses go in '
                    'model.distill_losses')
            if any(type(other) is type(loss) for other in self):
                raise ValueError(f'{field}: a second {type(loss).__name__}; '
                                 'give each self-supervised loss once')
            self.append(loss)

    @property
    def names(self) -> List[str]:
        """The log name of each term, ``loss_<type>``."""
        return ['loss_' + type(loss).__name__.replace('Loss', '').lower()
                for loss in self]

    def zeros(self, like: Tensor) -> Dict[str, Tensor]:
        """Every term as 0 (``like``: a scalar of the right device)."""
        zero = like.new_zeros(())
        return {name: zero for name in self.names}

    def forward(self, out: dict, labeled: Tensor) -> Dict[str, Tensor]:
        """The terms of a batch.

        Args:
            out (dict): Student outputs of ``extract`` (``pc1``, ``pc2`` and
                ``flows``, (B, N_l, 3) per level).
            labeled (Tensor): Which samples have ground truth, (B,) bool.

        Returns:
            dict: One ``loss_<type>`` per loss.
        """
        if not len(self):
            return {}
        flows = out['flows']
        rows = labeled.to(flows[0].device)
        rows = ~rows if self.on == 'unlabeled' else torch.ones_like(rows)
        if not bool(rows.any()):
            return self.zeros(flows[0])
        chosen = out if bool(rows.all()) else select_samples(
            dict(pc1=out['pc1'], pc2=out['pc2'], flows=flows), rows)
        levels = len(flows)
        pc1, pc2 = chosen['pc1'][:levels], chosen['pc2'][:levels]
        return {name: loss(pc1, pc2, chosen['flows'])
                for name, loss in zip(self.names, self)}
