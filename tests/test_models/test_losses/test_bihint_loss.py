import pytest
import torch

from bpfn.models.losses import BiHintLoss, bihint_loss


def test_bihint_loss_by_hand():
    s12, t12 = torch.zeros(1, 2, 3), torch.ones(1, 2, 3)  # mse 1
    s21, t21 = torch.zeros(1, 2, 4), torch.full((1, 2, 4), 2.)  # mse 4
    assert bihint_loss(s12, t12, s21, t21).item() == pytest.approx(5.0)
    loss = BiHintLoss(loss_weight=0.5)
    assert loss.directions == ('embedding_12', 'embedding_21')
    assert loss([s12, s21], [t12, t21]).item() == pytest.approx(2.5)
