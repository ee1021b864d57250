# Half-channel student: every feature width halved.
_base_ = ['../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(width_mult=0.5)
