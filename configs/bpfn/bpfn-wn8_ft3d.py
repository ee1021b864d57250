# WeightNet student: C_mid = 8 on every resolution (4,475,436 parameters).
_base_ = ['../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(weightnet=8)
