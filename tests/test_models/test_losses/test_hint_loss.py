import pytest
import torch

from bpfn.models.losses import HintLoss, hint_loss


def _pair():
    s = torch.tensor([[[1., 2.], [3., 4.]]])  # (1, 2, 2)
    t = torch.tensor([[[0., 2.], [3., 6.]]])
    return s, t  # squared differences 1, 0, 0, 4


def test_hint_loss_sum_is_fitnets_by_hand():
    s, t = _pair()
    # FitNets: 1/2 * sum of squares = 1/2 * 5.
    assert hint_loss(s, t).item() == pytest.approx(2.5)
    assert hint_loss(s, t, reduction='sum').item() == pytest.approx(2.5)
    # Batch of two: the second sample has squared differences 1, 1, 1, 1
    # (1/2 * 4 = 2); the batch takes the mean of 2.5 and 2.
    s2 = torch.cat([s, torch.zeros(1, 2, 2)])
    t2 = torch.cat([t, torch.ones(1, 2, 2)])
    assert hint_loss(s2, t2).item() == pytest.approx((2.5 + 2.0) / 2)
    # Gradient of 1/2 ||s - t||^2 is s - t (divided by B).
    s.requires_grad_(True)
    hint_loss(s, t).backward()
    assert torch.equal(s.grad, (s - t).detach())


def test_hint_loss_mean_keeps_the_elementwise_mean():
    s, t = _pair()
    assert hint_loss(s, t, reduction='mean').item() == pytest.approx(1.25)
    with pytest.raises(ValueError, match='reduction'):
        hint_loss(s, t, reduction='max')
    with pytest.raises(ValueError, match='reduction'):
        HintLoss(reduction='none')


def test_hint_module_sums_over_pairs():
    s, t = _pair()
    assert HintLoss(loss_weight=0.3)([s, s], [t, t]).item() == \
        pytest.approx(0.3 * (2.5 + 2.5))
    assert HintLoss(loss_weight=0.3, reduction='mean')(
        [s, s], [t, t]).item() == pytest.approx(0.3 * (1.25 + 1.25))


def test_hint_loss_shape_error():
    with pytest.raises(ValueError, match=r'\(1, 2, 2\) vs \(1, 3, 2\)'):
        hint_loss(torch.zeros(1, 2, 2), torch.zeros(1, 3, 2))
