# Adaptive imitation loss of the Weightnet=4 student: per point
# alpha * |S - GT| + (1 - alpha) * phi * |S - T| with alpha = 0.5
# (loss_weight = 1 - alpha); phi trusts the teacher where its error is low.
_base_ = [
    '../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='checkpoints/bpfn_ft3d.pth',
    distill_losses=[dict(type='AILLoss', loss_weight=0.5)])
