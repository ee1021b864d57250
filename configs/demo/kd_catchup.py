# Hint KD switched off once the student catches up with the teacher: the
# teacher's val EPE3D is measured before the first epoch; after each
# validation, once the student's is within 10% of it, KD is off for good.
_base_ = ['./kd_hint.py']
train_cfg = dict(val_interval=1)
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='KDWeightScheduleHook', stop_margin=0.1,
         margin_mode='relative'),
]
