# Bi-PointFlowNet teacher on FlyingThings3D with the original recipe.
_base_ = ['../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
