# Bi-directional hint of the Weightnet=4 student: hints on both directions
# of the level-2 cross layer (cross2.embedding_12 and cross2.embedding_21),
# each with its own 1x1 conv adapter. Loads with bpfn-wn4_ft3d.py.
_base_ = [
    '../_base_/models/bpfn_kd.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
# Both directions of the level-2 cross layer, in the student and the teacher.
cross2 = ['cross2.embedding_12', 'cross2.embedding_21']
model = dict(
    student=dict(weightnet=4),
    distill_losses=[
        dict(type='BiHintLoss', student=cross2, teacher=cross2,
             adapter=dict(type='ConvAdapter'), loss_weight=0.3)
    ])
