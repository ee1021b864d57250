# Attentive imitation loss (AIL) of the Weightnet=4 student: per point
# alpha * |S - GT| + (1 - alpha) * phi * |S - T| with alpha = 0.5
# (loss_weight = 1 - alpha); phi = 1 - e / (e_max - e_min) trusts the
# teacher where its squared error e is low, e_min / e_max over the training
# set (Saputra et al. 2019).
_base_ = [
    '../_base_/models/bpfn_kd.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(weightnet=4),
    distill_losses=[dict(type='AILLoss', loss_weight=0.5)])
# e_min / e_max of the teacher's errors over the training set, measured
# before the first epoch (cached in the work dir and the checkpoints).
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='AILErrorRangeHook'),
]
