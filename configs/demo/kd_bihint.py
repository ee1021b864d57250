# Bi-directional hint of a Weightnet=4 student from the committed demo
# teacher: the hints of both directions of cross2 (one 1x1 conv adapter
# each), summed, weight 0.3.
_base_ = ['./bpfn_synthetic.py']
# Both directions of the level-2 cross layer, in the student and the teacher.
cross2 = ['cross2.embedding_12', 'cross2.embedding_21']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='resources/bpfn_synthetic_teacher.pth',
    distill_losses=[
        dict(type='BiHintLoss', student=cross2, teacher=cross2,
             adapter=dict(type='ConvAdapter'), loss_weight=0.3)
    ])
