import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import \
    load_state_dict as mmengine_load_state_dict

from bpfn.registry import MODELS
from bpfn.utils.checkpoint import check_state_dict, extract_state_dict


@pytest.mark.parametrize('first_order', [False, True])
def test_meta_step_updates_teacher_and_student(teacher_ckpt, first_order,
                                               tiny_cfg, make_batch):
    init_default_scope('bpfn')
    model = MODELS.build(
        dict(type='MetaSceneFlowDistiller',
             student=dict(tiny_cfg, weightnet=4),
             teacher=tiny_cfg, teacher_ckpt=teacher_ckpt,
             teacher_optimizer=dict(type='SGD', lr=1.0),
             first_order=first_order,
             distill_losses=[
                 dict(type='OutputKDLoss', loss_weight=0.3),
                 dict(type='HintLoss', student='cross2.embedding_12',
                      teacher='cross2.embedding_12')
             ]))
    model.train()
    teacher_before = {k: v.clone() for k, v in
                      model.teacher.named_parameters()}
    buffers_before = {k: v.clone() for k, v in model.teacher.named_buffers()}
    student_before = {k: v.clone() for k, v in
                      model.student.named_parameters()}
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    inputs, samples = make_batch(seed=0)
    quiz_inputs, quiz_samples = make_batch(seed=1)
    with pytest.raises(RuntimeError, match='quiz batch'):
        model.train_step(dict(inputs=inputs, data_samples=samples), wrapper)
    model.set_quiz_batch(dict(inputs=quiz_inputs, data_samples=quiz_samples))
    log = model.train_step(dict(inputs=inputs, data_samples=samples),
                           wrapper)
    assert 'loss_quiz' in log and torch.isfinite(log['loss_quiz'])
    assert any(not torch.equal(v, teacher_before[k])
               for k, v in model.teacher.named_parameters())
    assert any(not torch.equal(v, student_before[k])
               for k, v in model.student.named_parameters())
    # BatchNorm statistics of the teacher stay put (eval mode).
    for k, v in model.teacher.named_buffers():
        assert torch.equal(v, buffers_before[k]), k
    assert not model.teacher.training


def test_checkpoint_holds_the_taught_teacher(teacher_ckpt, tiny_cfg,
                                             make_batch):
    init_default_scope('bpfn')
    cfg = dict(type='MetaSceneFlowDistiller',
               student=dict(tiny_cfg, weightnet=4),
               teacher=tiny_cfg, teacher_ckpt=teacher_ckpt,
               teacher_optimizer=dict(type='Adam', lr=1e-2),
               distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
    model = MODELS.build(cfg).train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    inputs, samples = make_batch(seed=0)
    quiz_inputs, quiz_samples = make_batch(seed=1)
    model.set_quiz_batch(dict(inputs=quiz_inputs, data_samples=quiz_samples))
    model.train_step(dict(inputs=inputs, data_samples=samples), wrapper)
    state = model.state_dict()
    taught = model.teacher.state_dict()
    assert all(torch.equal(state[f'teacher.{k}'], v)
               for k, v in taught.items())
    adam = model.teacher_optimizer.state_dict()['state']
    assert torch.equal(state['teacher_optimizer.0.exp_avg'],
                       adam[0]['exp_avg'])

    # A fresh distiller starts from teacher_ckpt; loading the checkpoint
    # brings back the taught teacher and its optimizer state.
    fresh = MODELS.build(cfg)
    assert not all(torch.equal(v, taught[k])
                   for k, v in fresh.teacher.state_dict().items())
    fresh.load_state_dict(state, strict=True)
    for k, v in fresh.teacher.state_dict().items():
        assert torch.equal(v, taught[k]), k
    restored = fresh.teacher_optimizer.state_dict()['state']
    assert restored.keys() == adam.keys()
    for index in adam:
        for name, value in adam[index].items():
            assert torch.equal(restored[index][name], value), (index, name)
    assert fresh.teacher_optimizer.param_groups[0]['lr'] == 1e-2

    # So does MMEngine's loader, which the runner uses to resume.
    resumed = MODELS.build(cfg)
    mmengine_load_state_dict(resumed, dict(state), strict=True)
    for k, v in resumed.teacher.state_dict().items():
        assert torch.equal(v, taught[k]), k

    # The student's config still loads the distilled checkpoint.
    student = MODELS.build(dict(tiny_cfg, weightnet=4))
    weights = extract_state_dict(dict(state_dict=state), 'meta.pth')
    check_state_dict(student, weights, 'meta.pth')
    student.load_state_dict(weights, strict=True)


def _teacher_gradient_by_direct_differentiation(model, data, quiz, lr):
    """dQ(theta - lr grad_theta L(theta, w)) / dw, through the pilot."""
    # Taps are recorded within a step, as in the distiller's meta step.
    with model.recorders.step():
        inputs, samples = data['inputs'], data['data_samples']
        params = {n: p for n, p in model.student.named_parameters()
                  if p.requires_grad}
        buffers = {n: b.clone() for n, b in model.student.named_buffers()}
        t_params = [p for p in model.teacher.parameters()
                    if p.requires_grad]
        t_out = model.teacher(inputs, mode='tensor')
        loss = model._pilot_loss(params, buffers, inputs, samples, t_out)
        grads = torch.autograd.grad(loss, list(params.values()),
                                    create_graph=True, allow_unused=True)
        pilot = {n: p if g is None else p - lr * g
                 for (n, p), g in zip(params.items(), grads)}
        q_out = model._student_call(pilot, buffers, quiz['inputs'])
        model.recorders.clear()
        quiz_loss = sum(
            model.student.loss(q_out, quiz['data_samples']).values())
    t_grads = torch.autograd.grad(quiz_loss, t_params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g
            for p, g in zip(t_params, t_grads)]


@pytest.mark.parametrize('first_order', [False, True])
def test_teacher_update_is_the_quiz_gradient(teacher_ckpt, tiny_cfg,
                                             make_batch, first_order):
    # dQ/dw = -lr d/dw (v . g): the meta step's teacher gradient equals the
    # gradient of the pilot's quiz loss through the pilot update (and the
    # finite-difference variant approximates it).
    init_default_scope('bpfn')
    model = MODELS.build(
        dict(type='MetaSceneFlowDistiller',
             student=dict(tiny_cfg, weightnet=4), teacher=tiny_cfg,
             teacher_ckpt=teacher_ckpt, first_order=first_order,
             teacher_optimizer=dict(type='SGD', lr=1.0),
             distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)]))
    model.train()
    inputs, samples = make_batch(seed=0)
    quiz_inputs, quiz_samples = make_batch(seed=1)
    data = dict(inputs=inputs, data_samples=samples)
    quiz = dict(inputs=quiz_inputs, data_samples=quiz_samples)
    lr = 0.5
    expected = _teacher_gradient_by_direct_differentiation(model, data, quiz,
                                                           lr)
    before = [p.detach().clone() for p in model.teacher.parameters()]
    model.meta_step(data, quiz, lr)
    # SGD with lr 1: the step is minus the gradient.
    got = [b - p.detach() for b, p in zip(before, model.teacher.parameters())]
    flat_got = torch.cat([g.reshape(-1) for g in got])
    flat_expected = torch.cat([g.reshape(-1) for g in expected])
    assert flat_expected.abs().max() > 0
    if first_order:
        cos = torch.nn.functional.cosine_similarity(flat_got, flat_expected,
                                                    dim=0)
        assert cos > 0.99
    else:
        assert torch.allclose(flat_got, flat_expected, rtol=1e-4,
                              atol=1e-6 * flat_expected.abs().max())


def test_pending_quiz_batch_refuses_a_plain_forward(teacher_ckpt, tiny_cfg,
                                                    make_batch):
    # What MMEngine's DDP wrapper would do: forward(mode='loss') without the
    # distiller's train step. It must not silently become output KD.
    init_default_scope('bpfn')
    model = MODELS.build(
        dict(type='MetaSceneFlowDistiller',
             student=dict(tiny_cfg, weightnet=4), teacher=tiny_cfg,
             teacher_ckpt=teacher_ckpt,
             distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)]))
    inputs, samples = make_batch(seed=0)
    model.set_quiz_batch(dict(inputs=inputs, data_samples=samples))
    with pytest.raises(RuntimeError, match='MetaDistillerDDP'):
        model(inputs, samples, mode='loss')


def test_meta_step_on_a_mixed_batch_and_an_unlabelled_quiz(
        teacher_ckpt, tiny_cfg, make_batch):
    init_default_scope('bpfn')
    model = MODELS.build(
        dict(type='MetaSceneFlowDistiller',
             student=dict(tiny_cfg, weightnet=4),
             teacher=tiny_cfg, teacher_ckpt=teacher_ckpt,
             teacher_optimizer=dict(type='SGD', lr=1.0),
             distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)],
             self_supervised_losses=[dict(type='ChamferLoss')])).train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    inputs, samples = make_batch(seed=0)
    del samples[1]['gt_flow']  # the training batch may mix
    quiz_inputs, quiz_samples = make_batch(seed=1)
    teacher_before = {k: v.clone() for k, v in
                      model.teacher.named_parameters()}
    model.set_quiz_batch(dict(inputs=quiz_inputs, data_samples=quiz_samples))
    log = model.train_step(dict(inputs=inputs, data_samples=samples),
                           wrapper)
    assert torch.isfinite(log['loss_quiz'])
    assert log['labeled_frac'].item() == 0.5
    assert log['loss_chamfer'].item() > 0
    assert any(not torch.equal(v, teacher_before[k])
               for k, v in model.teacher.named_parameters())
    # The quiz loss is a GT loss: an unlabelled quiz sample is refused.
    del quiz_samples[0]['gt_flow']
    quiz_samples[0]['sample_name'] = 'quiz0'
    model.set_quiz_batch(dict(inputs=quiz_inputs, data_samples=quiz_samples))
    with pytest.raises(ValueError, match=r"1 of 2 samples \('quiz0'\) of "
                       r"the quiz batch have no ground truth \(gt_flow\)"):
        model.train_step(dict(inputs=inputs, data_samples=samples), wrapper)
    with pytest.raises(ValueError, match='needs model.teacher'):
        MODELS.build(dict(type='MetaSceneFlowDistiller',
                          student=dict(tiny_cfg, weightnet=4)))
