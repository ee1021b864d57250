# DecreasedLinear student: the level-4 Linear[256, 8240] becomes a depthwise
# conv [515, 1, 1, 1] and a pointwise conv [16, 515, 1, 1] (16 x 16 outputs).
_base_ = ['../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(level4_block='DecreasedLinear')
