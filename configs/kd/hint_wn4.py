# Hint KD (gamma 0.3) of the Weightnet=4 student on the level-2 pc1->pc2
# flow embedding. Checkpoints load with configs/bpfn/bpfn-wn4_ft3d.py.
_base_ = [
    '../_base_/models/bpfn_kd.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(weightnet=4),
    distill_losses=[
        dict(type='HintLoss', student='cross2.embedding_12',
             teacher='cross2.embedding_12', loss_weight=0.3)
    ])
