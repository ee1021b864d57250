# Early-stopped hint KD of the Weightnet=8 student: hint (gamma 0.3) for the
# first 280 epochs, GT only afterwards (KDWeightScheduleHook 'step').
_base_ = [
    '../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=8),
    teacher=_base_.model,
    teacher_ckpt='checkpoints/bpfn_ft3d.pth',
    distill_losses=[
        dict(type='HintLoss', student='cross2.embedding_12',
             teacher='cross2.embedding_12', loss_weight=0.3)
    ])
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='KDWeightScheduleHook', schedule='step', end=280),
]
