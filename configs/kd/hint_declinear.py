# Hint KD (FitNets, gamma 0.3) of the DecreasedLinear student on the
# pc1->pc2 flow embedding of level 2; same widths, so no adapter.
# Checkpoints load with configs/bpfn/bpfn-declinear_ft3d.py.
_base_ = [
    '../_base_/models/bpfn_kd.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(level4_block='DecreasedLinear'),
    distill_losses=[
        dict(type='HintLoss', student='cross2.embedding_12',
             teacher='cross2.embedding_12', loss_weight=0.3)
    ])
