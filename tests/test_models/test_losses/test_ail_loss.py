import pytest
import torch

from bpfn.models.losses import AILLoss, ail_loss, ail_weights


def _case():
    # Batch 1, three points, one level. Ground truth zero.
    gt = torch.zeros(1, 3, 3)
    # Teacher errors 1 (best), 3, 5 (worst).
    teacher = torch.tensor([[[1., 0., 0.], [0., 3., 0.], [0., 0., 5.]]])
    # Student flows (B, 3, N): points (2,0,0), (0,0,0), (0,0,1).
    student = torch.tensor([[[2., 0., 0.], [0., 0., 0.], [0., 0., 1.]]])
    return student, teacher, gt


def test_ail_weights_extremes():
    _, teacher, gt = _case()
    phi = ail_weights(teacher, gt)
    # phi = 1 at the teacher's best point, 0 at its worst, linear between.
    assert phi.tolist() == [[1.0, 0.5, 0.0]]
    # Equal errors: full trust everywhere.
    assert ail_weights(torch.ones(1, 4, 3), torch.zeros(1, 4, 3)).eq(1).all()


def test_ail_loss_by_hand():
    student, teacher, gt = _case()
    alpha = 0.25
    # student points p_S: (2,0,0), (0,0,1), (0,0,0)
    s = student[0].T
    err_gt = [2.0, 1.0, 0.0]
    err_t = [torch.dist(s[i], teacher[0, i]).item() for i in range(3)]
    phi = [1.0, 0.5, 0.0]
    expected = sum(alpha * err_gt[i] + (1 - alpha) * phi[i] * err_t[i]
                   for i in range(3))
    got = ail_loss([student], [teacher], [gt], alpha=alpha,
                   scale_weights=[1.0])
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_ail_module_plus_gt_equals_formula():
    student, teacher, gt = _case()
    module = AILLoss(scale_weights=[1.0], loss_weight=0.75)
    assert module.gt_loss_factor == pytest.approx(0.25)
    from bpfn.models.losses import multi_scale_loss
    total = module.gt_loss_factor * multi_scale_loss(
        [student], [gt], [1.0]) + module([student], [teacher], [gt])
    assert total.item() == pytest.approx(
        ail_loss([student], [teacher], [gt], alpha=0.25,
                 scale_weights=[1.0]).item(), rel=1e-6)
