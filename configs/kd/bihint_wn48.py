# Bi-directional hint of the WN48 student (see bihint_wn4.py).
_base_ = [
    '../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
# Both directions of the level-2 cross layer, in the student and the teacher.
cross2 = ['cross2.embedding_12', 'cross2.embedding_21']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=[4, 4, 4, 8, 8]),
    teacher=_base_.model,
    teacher_ckpt='checkpoints/bpfn_ft3d.pth',
    distill_losses=[
        dict(type='BiHintLoss', student=cross2, teacher=cross2,
             adapter=dict(type='ConvAdapter'), loss_weight=0.3)
    ])
