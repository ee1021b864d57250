# Attentive imitation loss (alpha 0.5) of a Weightnet=4 student from the
# committed demo teacher. AILErrorRangeHook runs the teacher over the
# training scenes before the first epoch for e_min / e_max of its errors
# (cached in the work dir and in the checkpoints).
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='resources/bpfn_synthetic_teacher.pth',
    distill_losses=[dict(type='AILLoss', loss_weight=0.5)])
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='AILErrorRangeHook'),
]
