# Hint KD (gamma 0.3, level-2 pc1->pc2 embedding) of a Weightnet=4 student
# from the demo teacher (train configs/demo/bpfn_synthetic.py first).
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
