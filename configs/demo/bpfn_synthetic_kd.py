# Distillation skeleton of the demo, as configs/_base_/models/bpfn_kd.py is
# of the FT3D configs: student and frozen teacher are both the demo model
# (bpfn_synthetic.py), the teacher's weights the committed demo teacher
# (resources/README.md: the demo model trained 4x longer); the demo KD
# configs override the student's keys and list their losses. A work dir
# works as teacher_ckpt too, e.g. 'work_dirs/bpfn_synthetic' (through its
# last_checkpoint file); paths are relative to the repository root.
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=_base_.model,
    teacher=_base_.model,
    teacher_ckpt='resources/bpfn_synthetic_teacher.pth',
    distill_losses=[])
