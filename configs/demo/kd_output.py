# Output KD (gamma 0.3) of a Weightnet=4 student from the demo teacher:
# loss = GT + 0.3 * multi-scale L2 to the teacher's flows (same reduction as
# the GT loss: end-point errors summed over points, mean over the batch).
# The teacher and its checkpoint: bpfn_synthetic_kd.py.
_base_ = ['./bpfn_synthetic_kd.py']
model = dict(
    student=dict(weightnet=4),
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
