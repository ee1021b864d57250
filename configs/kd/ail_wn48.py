# Attentive imitation loss of the WN48 student (see ail_wn4.py).
_base_ = [
    '../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=[4, 4, 4, 8, 8]),
    teacher=_base_.model,
    teacher_ckpt='checkpoints/bpfn_ft3d.pth',
    distill_losses=[dict(type='AILLoss', loss_weight=0.5)])
# e_min / e_max of the teacher's errors over the training set, measured
# before the first epoch (cached in the work dir and the checkpoints).
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='AILErrorRangeHook'),
]
