# Output KD of the Half-channel student, gamma 0.3: loss = GT + 0.3 * KD.
# The teacher is the base model; set teacher_ckpt to its weights (a bpfn
# checkpoint of configs/bpfn/bpfn_ft3d.py or the original BPF file). The
# saved checkpoints load with configs/bpfn/bpfn-half_ft3d.py.
_base_ = [
    '../_base_/models/bpfn_kd.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(width_mult=0.5),  # = bpfn-half_ft3d.py
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
