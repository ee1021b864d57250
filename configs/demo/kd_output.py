# Output KD (gamma 0.3) of a Weightnet=4 student from the demo teacher:
# loss = GT + 0.3 * multi-scale L2 to the teacher's flows (same reduction as
# the GT loss: end-point errors summed over points, mean over the batch).
#
# teacher_ckpt is the committed teacher (resources/README.md: the demo model
# trained 4x longer); a work dir works too, e.g. 'work_dirs/bpfn_synthetic'
# (resolved through its last_checkpoint file). Paths are relative to the
# repository root, where the tools run.
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='resources/bpfn_synthetic_teacher.pth',
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
