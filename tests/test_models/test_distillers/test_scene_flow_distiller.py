import os
import shutil

import pytest
import torch
from mmengine.registry import init_default_scope

from bpfn.apis import init_model
from bpfn.ops import chunking
from bpfn.models.losses import (hint_loss, multi_scale_loss,
                                subsample_flow, teacher_errors)
from bpfn.registry import MODELS


HINT = dict(type='HintLoss', student='cross2.embedding_12',
            teacher='cross2.embedding_12', loss_weight=0.3)
# AIL with each batch's error range: these tests are not about the range
# (see test_ail_loss.py and test_ail_error_range_hook.py).
AIL = dict(type='AILLoss', error_range='batch')


@pytest.fixture
def build(teacher_ckpt, tiny_cfg):
    """``build(student=None, losses=(HINT,), ckpt=teacher_ckpt)``."""

    def _build(student=None, losses=(HINT, ), ckpt=teacher_ckpt):
        init_default_scope('bpfn')
        torch.manual_seed(0)  # same student in every build
        return MODELS.build(
            dict(type='SceneFlowDistiller',
                 student=student or dict(tiny_cfg, weightnet=4),
                 teacher=tiny_cfg, teacher_ckpt=ckpt,
                 distill_losses=list(losses)))

    return _build


CROSS1 = ['cross1.embedding_12', 'cross1.embedding_21']


def test_teacher_outside_module_tree(build):
    model = build(losses=[
        dict(type='BiHintLoss', student=CROSS1, teacher=CROSS1,
             adapter=dict(type='ConvAdapter'))])
    keys = model.state_dict().keys()
    assert {k.split('.')[0] for k in keys} == {'student', 'adapters'}
    assert sorted(model.adapters.keys()) == ['0_0', '0_1']
    # The exact keys: the student's own, and one 1x1 conv per adapter.
    assert set(keys) == {f'student.{k}' for k in model.student.state_dict()
                         } | {f'adapters.0_{j}.conv.{p}' for j in (0, 1)
                              for p in ('weight', 'bias')}
    student_params = {id(p) for p in model.student.parameters()}
    teacher_params = {id(p) for p in model.teacher.parameters()}
    assert not teacher_params & {id(p) for p in model.parameters()}
    assert student_params <= {id(p) for p in model.parameters()}
    assert not any(p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert model.student.training and not model.teacher.training


def test_wrong_module_name_lists_valid_names(build):
    bad = dict(HINT, student='cross2.embeding_12')
    with pytest.raises(KeyError) as info:
        build(losses=[bad])
    msg = str(info.value)
    assert 'model.distill_losses[0].student' in msg
    assert "'cross2.embeding_12'" in msg
    assert 'Valid names:' in msg and 'cross2.embedding_21' in msg
    assert 'did you mean' in msg


def test_channel_mismatch_gives_both_shapes(build, tiny_cfg, make_batch):
    student = dict(tiny_cfg, width_mult=0.125)
    with pytest.raises(ValueError) as info:
        build(student=student)
    msg = str(info.value)
    assert 'channel mismatch' in msg and 'ConvAdapter' in msg
    # level 2 widths: 128 * 0.125 = 16 (student), 128 * 0.25 = 32 (teacher)
    assert '(1, 16, 16)' in msg and '(1, 16, 32)' in msg  # (B, N, C)
    model = build(student=student,
                  losses=[dict(HINT, adapter=dict(type='ConvAdapter'))])
    assert model.adapters['0'].conv.weight.shape == (32, 16, 1)


def test_tuple_output_index(build, tiny_cfg, make_batch):
    model = build(losses=[
        dict(HINT, student='cross2[1]', teacher='cross2[1]')])
    inputs, samples = make_batch()
    assert 'loss_hint0' in model(inputs, samples, mode='loss')
    with pytest.raises(TypeError, match=r"cross2\[i\]"):
        build(losses=[
            dict(HINT, student='cross2', teacher='cross2')])


def test_missing_teacher_checkpoint(build, tmp_path):
    with pytest.raises(FileNotFoundError, match='model.teacher_ckpt'):
        build(ckpt=str(tmp_path / 'absent.pth'))
    with pytest.raises(FileNotFoundError, match='model.teacher_ckpt'):
        build(ckpt=str(tmp_path))  # a directory without last_checkpoint
    with pytest.raises(ValueError, match='model.teacher_ckpt'):
        build(ckpt=None)


def test_work_dir_teacher_checkpoint(build, tmp_path, teacher_ckpt):
    (tmp_path / 'last_checkpoint').write_text(
        os.path.join('elsewhere', 'teacher.pth'))
    model = build(ckpt=str(tmp_path))
    assert model.teacher_ckpt == teacher_ckpt
    # A best checkpoint of the work dir is preferred (as in tools/test.py).
    best = tmp_path / 'best_EPE3D_epoch_3.pth'
    shutil.copyfile(teacher_ckpt, best)
    assert build(ckpt=str(tmp_path)).teacher_ckpt == str(best)


def test_teacher_frozen_during_training(build, tiny_cfg, make_batch):
    model = build(losses=[
        HINT, dict(type='OutputKDLoss'), AIL])
    teacher_before = {k: v.clone() for k, v in
                      model.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in
                      model.student.state_dict().items()}
    assert any('running_mean' in k for k in teacher_before)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(3):
        inputs, samples = make_batch(seed=step)
        losses = model(inputs, samples, mode='loss')
        optim.zero_grad()
        sum(losses.values()).backward()
        optim.step()
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    changed = [k for k, v in model.student.state_dict().items()
               if not torch.equal(v, student_before[k])]
    assert any('running_mean' in k for k in changed)
    assert any(k.endswith('weight') for k in changed)


def test_predict_runs_student_only(build, tiny_cfg, make_batch):
    model = build().eval()
    calls = []
    handle = model.teacher.register_forward_hook(
        lambda *args: calls.append(1))
    inputs, samples = make_batch()
    with torch.no_grad():
        preds = model(inputs, samples, mode='predict')
        direct = model.student(inputs, samples, mode='predict')
    handle.remove()
    assert not calls
    assert torch.equal(preds[0]['pred_flow'], direct[0]['pred_flow'])


def test_student_run_alone_before_a_step_changes_nothing(build, make_batch):
    # The hooks also fire when the student runs on its own (a benchmark's
    # forward, a user's inference); the next step must not see those calls.
    inputs, samples = make_batch()
    fresh = build()
    expected = fresh.loss(inputs, samples)
    model = build()
    with torch.no_grad():
        model.student(inputs, mode='tensor')
    losses = model.loss(inputs, samples)
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert torch.allclose(losses[key], value), key


def test_checkpoint_loads_with_student_config(build, tmp_path,
                                              tiny_cfg, make_batch):
    model = build(losses=[
        dict(HINT, adapter=dict(type='ConvAdapter'))])
    ckpt = tmp_path / 'distilled.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), ckpt)
    cfg = tmp_path / 'student.py'
    cfg.write_text(f'model = {dict(tiny_cfg, weightnet=4)!r}\n')
    student = init_model(str(cfg), str(ckpt))
    for k, v in model.student.state_dict().items():
        assert torch.equal(student.state_dict()[k], v)


def test_mix_and_ail_scale_gt_loss(build, tiny_cfg, make_batch):
    inputs, samples = make_batch()
    plain = build(losses=[]).eval()
    gt = plain(inputs, samples, mode='loss')['loss_gt']
    mix = build(losses=[
        dict(type='OutputKDLoss', mode='mix', loss_weight=0.3)]).eval()
    assert mix(inputs, samples, mode='loss')['loss_gt'].item() == \
        pytest.approx(0.7 * gt.item(), rel=1e-5)
    ail = build(losses=[dict(AIL, loss_weight=0.4)]).eval()
    assert ail(inputs, samples, mode='loss')['loss_gt'].item() == \
        pytest.approx(0.6 * gt.item(), rel=1e-5)
    # The whole mix loss: (1 - gamma) GT + gamma KD, KD with the GT loss's
    # reduction against the teacher's flows.
    losses = mix(inputs, samples, mode='loss')
    with torch.no_grad():
        s_out = mix.student(inputs, mode='tensor')
        t_out = mix.teacher(inputs, mode='tensor')
    kd = multi_scale_loss(s_out['flows'], mix.teacher_targets(s_out, t_out))
    assert (losses['loss_gt'] + losses['loss_outputkd0']).item() == \
        pytest.approx(0.7 * gt.item() + 0.3 * kd.item(), rel=1e-5)


def test_teacher_targets_same_and_different_sampling(build, tiny_cfg,
                                                     make_batch):
    model = build(losses=[dict(type='OutputKDLoss')]).eval()
    inputs, _ = make_batch()
    with torch.no_grad():
        s_out = model.student(inputs, mode='tensor')
        t_out = model.teacher(inputs, mode='tensor')
    same = model.teacher_targets(s_out, t_out)
    assert all(torch.equal(a, b) for a, b in zip(same, t_out['flows']))
    # Different sampling: the teacher's level-0 flow along the student chain.
    other = build(student=dict(tiny_cfg, num_points=[24, 16, 8,
                                                               4]),
                  losses=[dict(type='OutputKDLoss')]).eval()
    with torch.no_grad():
        s_out = other.student(inputs, mode='tensor')
    targets = other.teacher_targets(s_out, t_out)
    assert [t.shape[1] for t in targets] == [64, 24, 16, 8]
    assert torch.equal(targets[0], t_out['flows'][0])


def test_teacher_skipped_when_kd_weights_are_zero(build, make_batch,
                                                  monkeypatch):
    inputs, samples = make_batch()
    model = build(losses=[HINT, dict(AIL, loss_weight=0.4)])
    model.eval()  # same BatchNorm behaviour in both runs
    gt = build(losses=[]).eval()(inputs, samples, mode='loss')['loss_gt']
    for loss in model.distill_losses:
        loss.loss_weight = 0.0

    def teacher_must_not_run(*args, **kwargs):
        raise AssertionError('the teacher ran with all KD weights 0')

    monkeypatch.setattr(model.teacher, 'forward', teacher_must_not_run)
    losses = model(inputs, samples, mode='loss')
    # labeled_frac: the labelled share of the batch, logged every step.
    assert set(losses) == {'loss_gt', 'loss_hint0', 'loss_ail1',
                           'labeled_frac'}
    assert losses['labeled_frac'].item() == 1.0
    assert losses['loss_hint0'].item() == 0.0
    assert losses['loss_ail1'].item() == 0.0
    # AIL with weight 0 gives the plain GT loss (alpha = 1).
    assert losses['loss_gt'].item() == pytest.approx(gt.item(), rel=1e-6)
    losses['loss_gt'].backward()
    # Weights back: the teacher runs again.
    model.distill_losses[0].loss_weight = 0.3
    with pytest.raises(AssertionError, match='the teacher ran'):
        model(inputs, samples, mode='loss')


def test_teacher_stops_after_last_tapped_module(build, make_batch):
    inputs, samples = make_batch()
    model = build().eval()
    ran = []
    handles = [
        model.teacher.get_submodule(name).register_forward_hook(
            lambda m, a, o, name=name: ran.append(name), prepend=True)
        for name in ('cross2.embedding_12', 'flow2', 'cross1', 'cross0',
                     'flow0')
    ]
    # The first pass runs whole, to check that every tap runs once.
    model(inputs, samples, mode='loss')
    assert ran == ['cross2.embedding_12', 'flow2', 'cross1', 'cross0',
                   'flow0']
    ran.clear()
    losses = model(inputs, samples, mode='loss')
    # Then levels 1 and 0 (and even level 2's estimator) are skipped.
    assert ran == ['cross2.embedding_12']
    # Same hint loss as from the complete teacher forward.
    with torch.no_grad(), model.recorders.step() as records:
        model.teacher(inputs, mode='tensor')
        full = records['teacher'].feature('cross2.embedding_12')
    with model.recorders.step() as records:
        model.student(inputs, mode='tensor')
        expected = 0.3 * hint_loss(
            records['student'].feature('cross2.embedding_12'), full)
    assert losses['loss_hint0'].item() == pytest.approx(expected.item(),
                                                        rel=1e-5)
    # Output losses need the whole teacher.
    ran.clear()
    for h in handles:
        h.remove()
    out = build(losses=[dict(type='OutputKDLoss', loss_weight=0.3)]).eval()
    for name in ('cross2', 'cross0'):
        getattr(out.teacher, name).register_forward_hook(
            lambda m, a, o, name=name: ran.append(name))
    out(inputs, samples, mode='loss')
    assert ran == ['cross2', 'cross0']


@pytest.mark.parametrize('role', ['student', 'teacher'])
def test_tap_of_module_run_many_times_is_an_error(build, role):
    # The cross layer applies its first MLP once per direction: its output
    # is not one feature map, which the check at build time finds.
    tap = dict(HINT)
    tap[role] = 'cross2.mlp1.0'
    with pytest.raises(ValueError,
                       match=rf"{role} module 'cross2.mlp1.0' ran 2 times"):
        build(losses=[tap])


def test_tap_of_module_run_per_chunk_is_an_error(build, make_batch,
                                                 monkeypatch):
    # A PointConv's linear layer runs once per chunk of points: once on the
    # small check at build time, several times on larger clouds. The first
    # pass finds it, for the teacher before any pass stops early.
    name = 'flow2.pointconv_list.0.linear'
    model = build(losses=[dict(HINT, student=name, teacher=name)]).eval()
    monkeypatch.setattr(chunking, 'CPU_CHUNK_ELEMENTS', 1)
    inputs, _ = make_batch()
    with pytest.raises(ValueError,
                       match=rf"teacher module '{name}' ran \d+ times"), \
            model.recorders.step():
        model.run_teacher(inputs)
    with pytest.raises(ValueError,
                       match=rf"student module '{name}' ran \d+ times"), \
            model.recorders.step() as records:
        model.student(inputs, mode='tensor')
        records['student'].feature(name)


@pytest.mark.parametrize('student_points', [None, [24, 16, 8, 4]])
def test_teacher_point_errors_are_what_ail_weighs(build, tiny_cfg,
                                                  make_batch,
                                                  student_points):
    student = dict(tiny_cfg, weightnet=4)
    if student_points:
        student['num_points'] = student_points
    model = build(student=student, losses=[AIL])
    model.train()
    inputs, samples = make_batch()
    errors = model.teacher_point_errors(inputs, samples, squared=False)
    assert model.student.training  # put back
    with torch.no_grad():
        s_out = model.student(inputs, mode='tensor')
        t_out = model.teacher(inputs, mode='tensor')
    targets = model.teacher_targets(s_out, t_out)
    gt = subsample_flow(torch.stack([s['gt_flow'] for s in samples]),
                        s_out['fps_idx_pc1'][:3])
    assert [e.shape[1] for e in errors] == [t.shape[1] for t in targets]
    for err, t, g in zip(errors, targets, gt):
        assert torch.allclose(err, (t - g).norm(dim=-1))
    squared = model.teacher_point_errors(inputs, samples)
    for a, b in zip(squared, errors):
        assert torch.allclose(a, b * b)
    assert torch.allclose(squared[1], teacher_errors(targets[1], gt[1]))


def test_hint_only_stage_trains_the_lower_layers_alone(build, make_batch):
    model = build(losses=[HINT, dict(type='OutputKDLoss')]).train()
    inputs, samples = make_batch()
    model(inputs, samples, mode='loss')  # first pass: whole nets
    model.set_hint_only(True)
    ran = []
    for name in ('cross2.embedding_12', 'flow2', 'cross1'):
        model.student.get_submodule(name).register_forward_hook(
            lambda m, a, o, name=name: ran.append(name), prepend=True)
    model.zero_grad()
    losses = model(inputs, samples, mode='loss')
    assert ran == ['cross2.embedding_12']  # the student stops there
    assert losses['loss_gt'].item() == 0.0
    assert losses['loss_outputkd1'].item() == 0.0
    assert losses['loss_hint0'].item() > 0
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in model.student.named_parameters()}
    # The layers the guided one depends on learn (encoder, level 3); those
    # computed after it (level 2's estimator, levels 1 and 0) get no
    # gradient.
    assert grads['level1.linear.weight'] is not None
    assert grads['flow3.pointconv_list.0.linear.weight'] is not None
    after = [n for n in grads if n.startswith((
        'flow2.', 'flow1.', 'flow0.', 'cross1.', 'cross0.', 'deconv2_1.',
        'deconv1_0.'))]
    assert after and all(grads[n] is None for n in after)
    model.set_hint_only(False)
    losses = model(inputs, samples, mode='loss')
    assert losses['loss_gt'].item() > 0 and losses['loss_outputkd1'] > 0
    with pytest.raises(ValueError, match='needs a feature loss'):
        build(losses=[dict(type='OutputKDLoss')]).set_hint_only(True)


def test_losses_are_routed_by_their_base_class(build):
    from bpfn.models.losses import (BaseFeatureDistillLoss,
                                    BaseOutputDistillLoss)
    model = build(losses=[HINT, dict(type='OutputKDLoss'), AIL])
    kinds = [isinstance(loss, BaseOutputDistillLoss)
             for loss in model.distill_losses]
    assert kinds == [False, True, True]
    assert isinstance(model.distill_losses[0], BaseFeatureDistillLoss)
    assert [len(p) for p in model.pairs] == [1, 0, 0]
    with pytest.raises(TypeError, match=r"model.distill_losses\[0\]: "
                       'MultiScaleLoss is not a distillation loss'):
        build(losses=[dict(type='MultiScaleLoss')])
    with pytest.raises(ValueError, match='put it in '
                       'model.self_supervised_losses'):
        build(losses=[dict(type='ChamferLoss')])
