# Bi-directional hint of a Weightnet=4 student from the demo teacher, one
# 1x1 conv adapter per direction (train configs/demo/bpfn_synthetic.py first).
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='work_dirs/bpfn_synthetic',
    distill_losses=[
        dict(type='BiHintLoss', student='cross2', teacher='cross2',
             adapter=dict(type='ConvAdapter'), loss_weight=0.3)
    ])
