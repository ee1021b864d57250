import pytest
import torch

from bpfn.models.losses import (AILLoss, ail_kd_term, ail_loss, ail_weights,
                                multi_scale_loss, teacher_errors)


def _case():
    # Batch 1, three points, one level. Ground truth zero.
    gt = torch.zeros(1, 3, 3)
    # Teacher end-point errors 1, 3, 5 (squared 1, 9, 25).
    teacher = torch.tensor([[[1., 0., 0.], [0., 3., 0.], [0., 0., 5.]]])
    # Student flows (B, N, 3): points (2,0,0), (0,0,0), (0,0,1).
    student = torch.tensor([[[2., 0., 0.], [0., 0., 0.], [0., 0., 1.]]])
    return student, teacher, gt


def test_teacher_errors_squared_and_plain():
    _, teacher, gt = _case()
    assert teacher_errors(teacher, gt).tolist() == [[1.0, 9.0, 25.0]]
    assert teacher_errors(teacher, gt, squared=False).tolist() == \
        [[1.0, 3.0, 5.0]]


def test_ail_weights_from_the_training_set_range():
    _, teacher, gt = _case()
    # Saputra eq. 9: Phi = 1 - e / eta, eta = e_max - e_min (training set).
    # Squared errors, training-set range [0, 50]: 1 - (1, 9, 25) / 50.
    phi = ail_weights(teacher, gt, error_range=(0.0, 50.0))
    assert phi[0].tolist() == pytest.approx([0.98, 0.82, 0.5])
    # Plain errors, range [1, 11]: 1 - (1, 3, 5) / 10.
    phi = ail_weights(teacher, gt, error_range=(1.0, 11.0), squared=False)
    assert phi[0].tolist() == pytest.approx([0.9, 0.7, 0.5])
    # A narrow range: Phi is clamped at 0 beyond eta (1 - 9/4 < 0).
    phi = ail_weights(teacher, gt, error_range=(0.0, 4.0))
    assert phi[0].tolist() == pytest.approx([0.75, 0.0, 0.0])
    # The batch's own range: eta = 25 - 1 = 24, 1 - (1, 9, 25) / 24.
    phi = ail_weights(teacher, gt)
    assert phi[0].tolist() == pytest.approx([23 / 24, 15 / 24, 0.0])
    # The weights do not depend on how good the batch's worst point is
    # once the range is the training set's (unlike the batch's range).
    better = teacher * 0.5
    assert ail_weights(better, gt, (0.0, 50.0))[0].tolist() == \
        pytest.approx([1 - 0.25 / 50, 1 - 2.25 / 50, 1 - 6.25 / 50])
    assert ail_weights(better, gt)[0].tolist() == pytest.approx(
        [23 / 24, 15 / 24, 0.0])


def test_ail_loss_by_hand():
    student, teacher, gt = _case()
    alpha = 0.25
    err_gt = [2.0, 0.0, 1.0]  # |p_S - p_gt|
    err_t = [1.0, 3.0, 4.0]  # |p_S - p_T|
    phi = [0.98, 0.82, 0.5]
    expected = sum(alpha * err_gt[i] + (1 - alpha) * phi[i] * err_t[i]
                   for i in range(3))
    assert expected == pytest.approx(4.83)
    got = ail_loss([student], [teacher], [gt], alpha=alpha,
                   scale_weights=[1.0], error_ranges=[(0.0, 50.0)])
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_ail_kd_term_levels_and_batch():
    student, teacher, gt = _case()
    # Sample 2 of the batch: the student equals the teacher (no term).
    s = torch.cat([student, teacher])
    t = torch.cat([teacher, teacher])
    g = torch.cat([gt, gt])
    level0 = 0.98 * 1 + 0.82 * 3 + 0.5 * 4  # sample 1; sample 2 gives 0
    # Level 1: the first two points, range [0, 10]: Phi = 0.9, 0.1.
    level1 = 0.9 * 1 + 0.1 * 3
    got = ail_kd_term([s, s[:, :2]], [t, t[:, :2]], [g, g[:, :2]],
                      scale_weights=[1.0, 0.5],
                      error_ranges=[(0.0, 50.0), (0.0, 10.0)])
    assert got.item() == pytest.approx((level0 + 0.5 * level1) / 2,
                                       rel=1e-6)
    with pytest.raises(ValueError, match='error ranges of 1 levels'):
        ail_kd_term([s, s], [t, t], [g, g], [1.0, 1.0], [(0.0, 1.0)])


def test_ail_module_plus_gt_equals_formula():
    student, teacher, gt = _case()
    module = AILLoss(scale_weights=[1.0], loss_weight=0.75)
    assert module.error_range == 'train_set' and module.squared
    with pytest.raises(RuntimeError, match='AILErrorRangeHook'):
        module([student], [teacher], [gt])
    module.set_error_range([(0.0, 50.0)])
    assert module.gt_loss_factor == pytest.approx(0.25)
    total = module.gt_loss_factor * multi_scale_loss(
        [student], [gt], [1.0]) + module([student], [teacher], [gt])
    assert total.item() == pytest.approx(
        ail_loss([student], [teacher], [gt], alpha=0.25,
                 scale_weights=[1.0], error_ranges=[(0.0, 50.0)]).item(),
        rel=1e-6)
    assert total.item() == pytest.approx(4.83, rel=1e-6)
    batch = AILLoss(scale_weights=[1.0], loss_weight=0.75,
                    error_range='batch')
    assert batch([student], [teacher], [gt]).item() == pytest.approx(
        0.75 * (23 / 24 * 1 + 15 / 24 * 3 + 0.0 * 4), rel=1e-6)


def test_ail_module_checks_its_arguments():
    with pytest.raises(ValueError, match='error_range'):
        AILLoss(error_range='epoch')
    with pytest.raises(ValueError, match='level 1'):
        AILLoss().set_error_range([(0.0, 1.0), (2.0, 1.0)])
    with pytest.raises(ValueError, match='level 0'):
        AILLoss().set_error_range([(0.0, float('nan'))])


def test_unlabeled_samples_get_unlabeled_phi():
    student, teacher, gt = _case()
    # Sample 0 labelled; sample 1 (the same clouds) has no ground truth:
    # garbage in its GT rows must not matter.
    teacher2 = torch.cat([teacher, teacher])
    gt2 = torch.cat([gt, torch.full_like(gt, 1e6)])
    labeled = torch.tensor([True, False])
    phi = ail_weights(teacher2, gt2, (0.0, 50.0), labeled=labeled)
    assert phi[0].tolist() == pytest.approx([0.98, 0.82, 0.5])
    assert phi[1].tolist() == [1.0, 1.0, 1.0]  # the default: imitate fully
    phi = ail_weights(teacher2, gt2, (0.0, 50.0), labeled=labeled,
                      unlabeled_phi=0.0)
    assert phi[1].tolist() == [0.0, 0.0, 0.0]
    # The batch's range is that of the labelled samples alone.
    phi = ail_weights(teacher2, gt2, labeled=labeled)
    assert phi[0].tolist() == pytest.approx([23 / 24, 15 / 24, 0.0])
    # No labelled sample: every point gets unlabeled_phi.
    phi = ail_weights(teacher2, gt2, labeled=torch.tensor([False, False]),
                      unlabeled_phi=0.25)
    assert phi.tolist() == [[0.25] * 3] * 2
    # The imitation term averages over both samples: with Phi = 1 the
    # unlabelled one adds its plain output-KD term.
    student2 = torch.cat([student, student])
    loss = AILLoss(scale_weights=[1.0], loss_weight=0.5)
    loss.set_error_range([(0.0, 50.0)])
    value = loss([student2], [teacher2], [gt2], labeled=labeled)
    err = torch.norm(student - teacher, dim=2)[0]
    phi0 = torch.tensor([0.98, 0.82, 0.5])
    expected = 0.5 * ((phi0 * err).sum() + err.sum()) / 2
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match='unlabeled_phi'):
        AILLoss(unlabeled_phi=1.5)
