# Hint KD (FitNets, weight 0.3) of a Weightnet=4 student on the level-2
# pc1->pc2 flow embedding, from the committed demo teacher: 0.3 * 1/2 sum of
# squared differences over channels and points, mean over the batch.
_base_ = ['./bpfn_synthetic_kd.py']
model = dict(
    student=dict(weightnet=4),
    distill_losses=[
        dict(type='HintLoss', student='cross2.embedding_12',
             teacher='cross2.embedding_12', loss_weight=0.3)
    ])
