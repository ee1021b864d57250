import pytest
import torch

from bpfn.models.losses import HintLoss, hint_loss


def test_hint_loss_by_hand():
    s = torch.tensor([[[1., 2.], [3., 4.]]])  # (1, 2, 2)
    t = torch.tensor([[[0., 2.], [3., 6.]]])
    # squared differences 1, 0, 0, 4 -> mean 1.25
    assert hint_loss(s, t).item() == pytest.approx(1.25)
    assert HintLoss(loss_weight=0.3)([s, s], [t, t]).item() == \
        pytest.approx(0.3 * 1.25)


def test_hint_loss_shape_error():
    with pytest.raises(ValueError, match=r'\(1, 2, 2\) vs \(1, 3, 2\)'):
        hint_loss(torch.zeros(1, 2, 2), torch.zeros(1, 3, 2))
