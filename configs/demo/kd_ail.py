# Attentive imitation loss (alpha 0.5) of a Weightnet=4 student from the
# committed demo teacher. AILErrorRangeHook runs the teacher over the
# training scenes before the first epoch for e_min / e_max of its errors
# (cached in the work dir and in the checkpoints).
_base_ = ['./bpfn_synthetic_kd.py']
model = dict(
    student=dict(weightnet=4),
    distill_losses=[dict(type='AILLoss', loss_weight=0.5)])
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='AILErrorRangeHook'),
]
