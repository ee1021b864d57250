# FitNets' two stages: 3 epochs of hint-only training of the student's
# layers up to the guided one (cross2.embedding_12), then GT + hint.
_base_ = ['./kd_hint.py']
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='FitNetsStageHook', hint_epochs=3),
]
