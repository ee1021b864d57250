"""The distiller on batches that mix samples with and without ground truth.

The GT term counts the labelled samples only (their mean), the KD terms
every sample, the self-supervised terms the unlabelled ones; worked by
hand from the student's and teacher's outputs of the same batch. The
models run in eval mode where values are compared (BatchNorm with running
statistics: a sample's outputs do not depend on the rest of the batch).
"""
import pytest
import torch
from mmengine.registry import init_default_scope

from bpfn.models.distillers import scene_flow_distiller
from bpfn.models.distillers import (gt_targets_or_zeros, labeled_samples,
                                    select_samples)
from bpfn.models.losses import (chamfer_loss, flow_smoothness,
                                laplacian_regularity)
from bpfn.registry import MODELS

ALPHA = (0.02, 0.04, 0.08, 0.16)
HINT = dict(type='HintLoss', student='cross2.embedding_12',
            teacher='cross2.embedding_12', loss_weight=0.3)
OUTPUT = dict(type='OutputKDLoss', loss_weight=0.3)
SELF_SUP = [dict(type='ChamferLoss'), dict(type='SmoothnessLoss'),
            dict(type='LaplacianLoss')]


@pytest.fixture
def build(teacher_ckpt, tiny_cfg):
    """``build(losses=..., teacher=True, **kwargs)`` -> SceneFlowDistiller."""

    def _build(losses=(OUTPUT, HINT), teacher=True, **kwargs):
        init_default_scope('bpfn')
        torch.manual_seed(0)
        cfg = dict(type='SceneFlowDistiller',
                   student=dict(tiny_cfg, weightnet=4),
                   distill_losses=list(losses), **kwargs)
        if teacher:
            cfg.update(teacher=tiny_cfg, teacher_ckpt=teacher_ckpt)
        return MODELS.build(cfg)

    return _build


def _mixed(make_batch, unlabeled=(1, 3), batch_size=4):
    inputs, samples = make_batch(batch_size=batch_size)
    for i, ds in enumerate(samples):
        ds['sample_name'] = f'scene{i}'
        if i in unlabeled:
            del ds['gt_flow']
    return inputs, samples


def _gt_by_hand(s_out, samples, b):
    """sum_l a_l sum_i ||f_l - g_l|| of sample b, g_l down the FPS chain."""
    g = samples[b]['gt_flow']
    total = 0.0
    for level, flow in enumerate(s_out['flows']):
        if level > 0:
            g = g[s_out['fps_idx_pc1'][level - 1][b]]
        total += ALPHA[level] * (flow[b] - g).norm(dim=1).sum()
    return total


def _kd_by_hand(s_out, t_out, b):
    """sum_l a_l sum_i ||f_l - t_l|| of sample b (same sampling)."""
    return sum(ALPHA[level] * (s[b] - t[b]).norm(dim=1).sum()
               for level, (s, t) in enumerate(zip(s_out['flows'],
                                                  t_out['flows'])))


def test_gt_term_counts_labelled_samples_kd_term_all(build, make_batch):
    """Must show: on a mixed batch the GT term is the mean over the
    labelled samples, the KD terms the mean over all of them."""
    model = build().eval()
    inputs, samples = _mixed(make_batch)  # samples 0 and 2 labelled
    losses = model(inputs, samples, mode='loss')
    assert losses['labeled_frac'].item() == 0.5
    with torch.no_grad(), model.recorders.step() as records:
        s_out = model.student(inputs, mode='tensor')
        t_out = model.teacher(inputs, mode='tensor')
        hint_s = records['student'].feature('cross2.embedding_12')
        hint_t = records['teacher'].feature('cross2.embedding_12')
    gt = (_gt_by_hand(s_out, samples, 0) + _gt_by_hand(s_out, samples, 2)) / 2
    assert losses['loss_gt'].item() == pytest.approx(gt.item(), rel=1e-5)
    kd = sum(_kd_by_hand(s_out, t_out, b) for b in range(4)) / 4
    assert losses['loss_outputkd0'].item() == pytest.approx(
        0.3 * kd.item(), rel=1e-5)
    hint = sum(0.5 * (hint_s[b] - hint_t[b]).pow(2).sum()
               for b in range(4)) / 4
    assert losses['loss_hint1'].item() == pytest.approx(
        0.3 * hint.item(), rel=1e-5)
    # The same GT term as the labelled pair alone, the same KD terms as
    # the batch with every label: the scale does not follow the share.
    pair = model({k: v[[0, 2]] for k, v in inputs.items()},
                 [samples[0], samples[2]], mode='loss')
    assert pair['loss_gt'].item() == pytest.approx(
        losses['loss_gt'].item(), rel=1e-5)
    full_inputs, full_samples = make_batch(batch_size=4)
    full = model(full_inputs, full_samples, mode='loss')
    assert full['labeled_frac'].item() == 1.0
    assert full['loss_outputkd0'].item() == pytest.approx(
        losses['loss_outputkd0'].item(), rel=1e-6)


def test_trains_on_a_mixed_batch(build, make_batch):
    model = build().train()
    inputs, samples = _mixed(make_batch)
    before = {k: v.clone() for k, v in model.student.state_dict().items()}
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        losses = model(inputs, samples, mode='loss')
        assert all(torch.isfinite(v) for v in losses.values())
        assert losses['loss_gt'] > 0 and losses['loss_outputkd0'] > 0
        optim.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optim.step()
    assert any(not torch.equal(v, before[k])
               for k, v in model.student.state_dict().items())
    # The GT gradient comes from the labelled samples alone: the GT term
    # does not change when the unlabelled samples' clouds do.
    model.eval()
    gt = model(inputs, samples, mode='loss')['loss_gt']
    moved = {k: v.clone() for k, v in inputs.items()}
    for key in moved:
        moved[key][[1, 3]] += 0.5
    assert model(moved, samples, mode='loss')['loss_gt'].item() == \
        pytest.approx(gt.item(), rel=1e-6)


def test_no_labelled_sample_gives_a_zero_gt_term_that_steps(build,
                                                            make_batch):
    model = build(losses=[OUTPUT]).train()
    inputs, samples = _mixed(make_batch, unlabeled=(0, 1, 2, 3))
    losses = model(inputs, samples, mode='loss')
    assert losses['loss_gt'].item() == 0.0
    assert losses['labeled_frac'].item() == 0.0
    assert losses['loss_outputkd0'].item() > 0
    # All KD weights 0 (after an early stop): the teacher does not run and
    # the zero GT term still backpropagates.
    model.distill_losses[0].loss_weight = 0.0
    losses = model(inputs, samples, mode='loss')
    assert losses['loss_gt'].requires_grad
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert 'kd_off' in model._said


def test_ail_phi_on_unlabelled_samples_is_said_once(build, make_batch,
                                                    monkeypatch):
    said = []
    monkeypatch.setattr(scene_flow_distiller, 'print_log',
                        lambda msg, **kw: said.append(msg))
    ail = dict(type='AILLoss', loss_weight=0.5, error_range='batch')
    model = build(losses=[ail]).eval()
    inputs, samples = _mixed(make_batch)
    losses = model(inputs, samples, mode='loss')
    model(inputs, samples, mode='loss')
    ail_lines = [m for m in said if 'Phi = 1' in m]
    assert len(ail_lines) == 1 and 'unlabeled_phi' in ail_lines[0]
    assert sum('loss_gt is the mean GT loss over the labelled' in m
               for m in said) == 1
    with torch.no_grad():
        s_out = model.student(inputs, mode='tensor')
        t_out = model.teacher(inputs, mode='tensor')
    # By hand: Phi from the labelled samples' errors (this batch's range
    # over samples 0 and 2), Phi = 1 on samples 1 and 3; mean over all 4.
    gt = gt_targets_or_zeros(s_out, samples)
    total = 0.0
    for level, (s, t) in enumerate(zip(s_out['flows'], t_out['flows'])):
        err = (t - gt[level]).norm(dim=-1) ** 2
        lo, hi = err[[0, 2]].min(), err[[0, 2]].max()
        phi = (1 - err / (hi - lo)).clamp(0, 1)
        phi[[1, 3]] = 1.0
        total += ALPHA[level] * (phi * (s - t).norm(dim=2)).sum(1).mean()
    assert losses['loss_ail0'].item() == pytest.approx(0.5 * total.item(),
                                                       rel=1e-5)
    # alpha = 0.5 on the GT term of the labelled samples.
    plain = build(losses=[]).eval()
    with pytest.raises(ValueError, match='no ground truth'):
        plain(inputs, samples, mode='loss')
    gt_pair = plain({k: v[[0, 2]] for k, v in inputs.items()},
                    [samples[0], samples[2]], mode='loss')['loss_gt']
    assert losses['loss_gt'].item() == pytest.approx(0.5 * gt_pair.item(),
                                                     rel=1e-5)


@pytest.mark.parametrize('on', ['unlabeled', 'all'])
def test_self_supervised_terms_without_a_teacher(build, make_batch, on):
    model = build(losses=[], teacher=False, self_supervised_losses=SELF_SUP,
                  self_supervised_on=on).eval()
    assert model.teacher is None
    assert {k.split('.')[0] for k in model.state_dict()} == {'student'}
    inputs, samples = _mixed(make_batch)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_gt', 'loss_chamfer', 'loss_smoothness',
                           'loss_laplacian', 'labeled_frac'}
    with torch.no_grad():
        s_out = model.student(inputs, mode='tensor')
    rows = [1, 3] if on == 'unlabeled' else [0, 1, 2, 3]
    chamfer = smooth = lap = 0.0
    for level, flow in enumerate(s_out['flows']):
        pc1, pc2 = s_out['pc1'][level][rows], s_out['pc2'][level][rows]
        f = flow[rows]
        chamfer += ALPHA[level] * chamfer_loss(pc1, pc2, f).mean()
        smooth += ALPHA[level] * flow_smoothness(pc1, f, 9).mean()
        lap += ALPHA[level] * laplacian_regularity(pc1, pc2, f).mean()
    assert losses['loss_chamfer'].item() == pytest.approx(chamfer.item(),
                                                          rel=1e-5)
    assert losses['loss_smoothness'].item() == pytest.approx(
        smooth.item(), rel=1e-5)
    assert losses['loss_laplacian'].item() == pytest.approx(
        0.3 * lap.item(), rel=1e-5)
    # A fully labelled batch: no unlabelled sample to self-supervise.
    full = model(*make_batch(batch_size=2), mode='loss')
    if on == 'unlabeled':
        assert full['loss_chamfer'].item() == 0.0
    else:
        assert full['loss_chamfer'].item() > 0
    with pytest.raises(RuntimeError, match='model.teacher is None'):
        model.teacher_val_step(dict(inputs=inputs, data_samples=samples))


def test_self_supervised_with_kd_and_hint_stage(build, make_batch):
    model = build(self_supervised_losses=SELF_SUP[:1]).train()
    inputs, samples = _mixed(make_batch)
    losses = model(inputs, samples, mode='loss')
    assert {'loss_gt', 'loss_outputkd0', 'loss_hint1', 'loss_chamfer',
            'labeled_frac'} == set(losses)
    assert losses['loss_chamfer'].item() > 0
    model.set_hint_only(True)
    stage = model(inputs, samples, mode='loss')
    assert stage['loss_chamfer'].item() == 0.0
    assert stage['loss_gt'].item() == 0.0 and stage['loss_hint1'] > 0
    assert stage['labeled_frac'].item() == 0.5


def test_configuration_errors(build, make_batch, teacher_ckpt):
    with pytest.raises(ValueError, match='model.teacher is required'):
        build(teacher=False)
    with pytest.raises(ValueError, match='teacher_ckpt'):
        build(losses=[], teacher=False, teacher_ckpt=teacher_ckpt)
    with pytest.raises(ValueError, match='self_supervised_losses'):
        build(losses=[dict(type='ChamferLoss')])
    with pytest.raises(ValueError, match='not a self-supervised loss'):
        build(self_supervised_losses=[OUTPUT])
    with pytest.raises(ValueError, match='a second ChamferLoss'):
        build(self_supervised_losses=SELF_SUP[:1] * 2)
    with pytest.raises(ValueError, match='self_supervised_on'):
        build(self_supervised_on='labeled')
    # Unlabelled samples and no loss that could use them: refused, naming
    # the samples.
    plain = build(losses=[], teacher=False)
    with pytest.raises(ValueError, match=r"2 of 4 .*'scene1', 'scene3'"):
        plain(*_mixed(make_batch), mode='loss')


def test_batch_helpers(make_batch):
    inputs, samples = make_batch(batch_size=3)
    del samples[1]['gt_flow']
    assert labeled_samples(samples).tolist() == [True, False, True]
    out = dict(flows=[torch.arange(6.).view(3, 2)],
               pc1=(torch.arange(3.), ), meta='kept')
    sub = select_samples(out, torch.tensor([True, False, True]))
    assert sub['flows'][0].tolist() == [[0., 1.], [4., 5.]]
    assert sub['pc1'][0].tolist() == [0., 2.] and sub['meta'] == 'kept'
