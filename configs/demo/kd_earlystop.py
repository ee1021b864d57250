# Hint KD switched off after epoch 6 of 10 (KDWeightScheduleHook 'step').
_base_ = ['./kd_hint.py']
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='KDWeightScheduleHook', schedule='step', end=6),
]
