# Hint KD switched off after epoch 6 of 12 (KDWeightScheduleHook 'step').
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='work_dirs/bpfn_synthetic',
    distill_losses=[
        dict(type='HintLoss', student='cross2.embedding_12',
             teacher='cross2.embedding_12', loss_weight=0.3)
    ])
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='KDWeightScheduleHook', schedule='step', end=6),
]
