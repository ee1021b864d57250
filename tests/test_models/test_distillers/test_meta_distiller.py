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
