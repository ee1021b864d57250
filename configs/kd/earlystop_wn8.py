# Early-stopped hint KD of the Weightnet=8 student: hint (gamma 0.3, as
# hint_wn4.py) for the first 280 epochs, GT only afterwards
# (KDWeightScheduleHook 'step').
_base_ = ['./hint_wn4.py']
model = dict(student=dict(weightnet=8))
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='KDWeightScheduleHook', schedule='step', end=280),
]
