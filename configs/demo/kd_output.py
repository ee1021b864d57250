# Output KD (gamma 0.3) of a Weightnet=4 student from the demo teacher.
# Train the teacher first:
#   python tools/train.py configs/demo/bpfn_synthetic.py
#
# teacher_ckpt is its work dir, resolved through its last_checkpoint file.
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='work_dirs/bpfn_synthetic',
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
