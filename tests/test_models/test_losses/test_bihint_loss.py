import pytest
import torch

from bpfn.models.losses import BiHintLoss, HintLoss, bihint_loss


def test_bihint_loss_by_hand():
    # 1 * 6 elements: 1/2 * 6 = 3; 4 * 8 elements: 1/2 * 32 = 16.
    s12, t12 = torch.zeros(1, 2, 3), torch.ones(1, 2, 3)
    s21, t21 = torch.zeros(1, 2, 4), torch.full((1, 2, 4), 2.)
    assert bihint_loss(s12, t12, s21, t21).item() == pytest.approx(19.0)
    assert bihint_loss(s12, t12, s21, t21, 'mean').item() == \
        pytest.approx(1.0 + 4.0)
    loss = BiHintLoss(loss_weight=0.5)
    assert loss.directions == ('embedding_12', 'embedding_21')
    assert loss([s12, s21], [t12, t21]).item() == pytest.approx(9.5)
    # One rule for several pairs: the same as HintLoss with two pairs.
    assert HintLoss(loss_weight=0.5)([s12, s21], [t12, t21]).item() == \
        pytest.approx(9.5)
    assert BiHintLoss(loss_weight=0.5, reduction='mean')(
        [s12, s21], [t12, t21]).item() == pytest.approx(2.5)


def test_bihint_taps_need_both_directions():
    loss = BiHintLoss()
    both = ['cross2.embedding_12', 'cross2.embedding_21']
    loss.check_taps(both, both, 'model.distill_losses[0]')
    loss.check_taps(both + ['cross1.embedding_21', 'cross1.embedding_12'],
                    both + ['cross1.embedding_21', 'cross1.embedding_12'],
                    'f')
    with pytest.raises(ValueError, match=r"model.distill_losses\[0\].teacher: "
                       r"BiHintLoss needs both directions of 'cross2'; add "
                       r"\['cross2.embedding_21'\]"):
        loss.check_taps(both, ['cross2.embedding_12', 'cross3.embedding_12'],
                        'model.distill_losses[0]')
    with pytest.raises(ValueError, match="got 'cross2'; use HintLoss"):
        loss.check_taps(['cross2'], ['cross2'], 'f')
