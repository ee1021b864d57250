# Hint KD of the Weightnet=8 student, switched off once the student
# catches up: the teacher's FT3D val EPE3D is measured before the first
# epoch; after each validation, once the student's is within 5% of it, KD is
# off for the rest of training (the "student > teacher" study).
_base_ = ['./earlystop_wn8.py']
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='KDWeightScheduleHook', stop_margin=0.05,
         margin_mode='relative'),
]
