# WN48 student: C_mid = 8 on the two coarsest resolutions (256 and 64
# points), 4 on the rest (3,857,356 parameters). The research report calls
# this "8 on levels 1-2, 4 on levels 3-4", counting from the coarsest end.
_base_ = ['../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(weightnet=[4, 4, 4, 8, 8])
