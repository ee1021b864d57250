# Distillation skeleton (SceneFlowDistiller): student and frozen teacher are
# both the base Bi-PointFlowNet (bpfn.py). A KD config overrides the keys
# that make its student (weightnet, width_mult or level4_block, as in
# configs/bpfn/bpfn-*_ft3d.py), lists its distill_losses and, where needed,
# sets its hooks. teacher_ckpt: a bpfn checkpoint of
# configs/bpfn/bpfn_ft3d.py, the original BPF weights or a work dir (through
# its last_checkpoint file); relative to the repository root.
_base_ = ['./bpfn.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=_base_.model,
    teacher=_base_.model,
    teacher_ckpt='checkpoints/bpfn_ft3d.pth',
    distill_losses=[])
