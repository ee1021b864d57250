# Bi-directional hint of a Weightnet=4 student from the committed demo
# teacher: the hints of both directions of cross2 (one 1x1 conv adapter
# each), summed, weight 0.3.
_base_ = ['./bpfn_synthetic_kd.py']
# Both directions of the level-2 cross layer, in the student and the teacher.
cross2 = ['cross2.embedding_12', 'cross2.embedding_21']
model = dict(
    student=dict(weightnet=4),
    distill_losses=[
        dict(type='BiHintLoss', student=cross2, teacher=cross2,
             adapter=dict(type='ConvAdapter'), loss_weight=0.3)
    ])
