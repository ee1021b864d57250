import pytest
import torch

from bpfn.models.losses import OutputKDLoss, multi_scale_loss, output_kd_loss


def test_output_kd_loss_by_hand():
    # One level, batch 1, two points: |(3, 4, 0)| = 5 and 0.
    student = [torch.tensor([[[3., 4., 0.], [1., 1., 1.]]])]  # (1, 2, 3)
    teacher = [torch.tensor([[[0., 0., 0.], [1., 1., 1.]]])]  # (1, 2, 3)
    assert output_kd_loss(student, teacher, alpha=[0.5]).item() == \
        pytest.approx(0.5 * 5.0)


def test_output_kd_uses_the_gt_loss_reduction():
    # Same reduction as the GT loss: sum over points, mean over the batch,
    # level weights; the teacher plays the ground truth's role.
    gen = torch.Generator().manual_seed(0)
    s = [torch.randn(2, 8, 3, generator=gen),
         torch.randn(2, 4, 3, generator=gen)]
    t = [torch.randn(2, 8, 3, generator=gen),
         torch.randn(2, 4, 3, generator=gen)]
    expected = sum(
        a * torch.norm(sl - tl, dim=2).sum(1).mean()
        for a, sl, tl in zip([0.02, 0.04], s, t))
    assert output_kd_loss(s, t, alpha=[0.02, 0.04]).item() == \
        pytest.approx(expected.item(), rel=1e-6)
    assert multi_scale_loss(s, t, [0.02, 0.04]).item() == \
        pytest.approx(expected.item(), rel=1e-6)


def test_output_kd_modes():
    add = OutputKDLoss(alpha=[1.0], loss_weight=0.3)
    mix = OutputKDLoss(alpha=[1.0], mode='mix', loss_weight=0.3)
    assert add.gt_loss_factor == 1.0
    assert mix.gt_loss_factor == pytest.approx(0.7)
    s = [torch.zeros(2, 4, 3)]
    t = [torch.ones(2, 4, 3)]
    expected = 0.3 * 4 * 3 ** 0.5
    assert add(s, t, t).item() == pytest.approx(expected, rel=1e-6)
    # mix: (1 - gamma) GT + gamma KD, the GT factor applied by the
    # distiller (see test_scene_flow_distiller).
    gt = [torch.full((2, 4, 3), 2.0)]
    total = mix.gt_loss_factor * multi_scale_loss(s, gt, [1.0]) + mix(s, t,
                                                                      gt)
    assert total.item() == pytest.approx(
        0.7 * 4 * 2 * 3 ** 0.5 + 0.3 * 4 * 3 ** 0.5, rel=1e-6)
    with pytest.raises(ValueError, match='mode'):
        OutputKDLoss(mode='sum')
