import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

from bpfn.registry import MODELS



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
