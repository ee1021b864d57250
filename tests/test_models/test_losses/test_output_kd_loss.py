import pytest
import torch

from bpfn.models.losses import OutputKDLoss, output_kd_loss


def test_output_kd_loss_by_hand():
    # One level, batch 1, two points: |(3, 4, 0)| = 5 and 0.
    student = [torch.tensor([[[3., 1.], [4., 1.], [0., 1.]]])]  # (1, 3, 2)
    teacher = [torch.tensor([[[0., 0., 0.], [1., 1., 1.]]])]  # (1, 2, 3)
    assert output_kd_loss(student, teacher, alpha=[0.5]).item() == \
        pytest.approx(0.5 * 5.0)


def test_output_kd_modes():
    add = OutputKDLoss(alpha=[1.0], loss_weight=0.3)
    mix = OutputKDLoss(alpha=[1.0], mode='mix', loss_weight=0.3)
    assert add.gt_loss_factor == 1.0
    assert mix.gt_loss_factor == pytest.approx(0.7)
    s = [torch.zeros(2, 3, 4)]
    t = [torch.ones(2, 4, 3)]
    expected = 0.3 * 4 * 3 ** 0.5
    assert add(s, t, t).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match='mode'):
        OutputKDLoss(mode='sum')
