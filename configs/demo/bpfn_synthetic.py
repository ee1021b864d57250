# A small Bi-PointFlowNet trained on procedural scenes in a few minutes on
# CPU:  python tools/train.py configs/demo/bpfn_synthetic.py
#       python tools/test.py configs/demo/bpfn_synthetic.py \
#           work_dirs/bpfn_synthetic
_base_ = [
    '../_base_/models/bpfn.py', '../_base_/datasets/synthetic.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]

num_points = 2048
model = dict(
    num_points=[512, 128, 64, 16],
    feat_neighbors=8,
    flow_neighbors=8,
    width_mult=0.25,
    estimator_channels=[32, 32],
    estimator_mlp=[32, 32])

# The scenes of _base_/datasets/synthetic.py at 2048 points, without its
# augmentation and depth filter; 200 training, 16 validation and 32 test
# scenes.
train_pipeline = [
    dict(type='RandomSampleFlowPoints', num_points=num_points),
    dict(type='PackFlowInputs')
]
test_pipeline = [
    dict(
        type='RandomSampleFlowPoints', num_points=num_points,
        deterministic=True),
    dict(type='PackFlowInputs')
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        num_samples=200, num_points=num_points, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        num_samples=16, num_points=num_points, pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(
        num_samples=32, num_points=num_points, pipeline=test_pipeline))

optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='ClampedStepLR', step_size=4, gamma=0.5, min_lr=1e-5,
         by_epoch=True, begin=0, end=10)
]
train_cfg = dict(max_epochs=10, val_interval=5, dynamic_intervals=None)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(max_keep_ckpts=2))
randomness = dict(seed=0)
