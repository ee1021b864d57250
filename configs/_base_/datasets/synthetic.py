# Procedural scenes (no download): ground, wall segments, poles and moving
# boxes under ego motion. Default dataset of the demo and the tests.
dataset_type = 'SyntheticSceneFlow'
num_points = 8192

train_pipeline = [
    dict(
        type='FlowAugmentation',
        scale_range=(0.95, 1.05),
        rot_range=10.0,
        shift_range=1.0,
        jitter_sigma=0.01,
        jitter_clip=0.0,
        pc2_rot_range=0.0,
        pc2_shift_range=0.3),
    dict(type='DepthFilter', max_depth=35.0),
    dict(type='RandomSampleFlowPoints', num_points=num_points),
    dict(type='PackFlowInputs'),
]
test_pipeline = [
    dict(type='DepthFilter', max_depth=35.0),
    dict(
        type='RandomSampleFlowPoints',
        num_points=num_points,
        deterministic=True),
    dict(type='PackFlowInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(
        type=dataset_type,
        num_samples=1000,
        num_points=num_points,
        split='train',
        seed=0,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(
        type=dataset_type,
        num_samples=100,
        num_points=num_points,
        split='val',
        seed=0,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(
        type=dataset_type,
        num_samples=100,
        num_points=num_points,
        split='test',
        seed=0,
        test_mode=True,
        pipeline=test_pipeline))

# The scenes carry per-point labels and a 0.1 s frame interval, so the
# metric also reports Threeway EPE (EPE_FD, EPE_FS, EPE_BS, ThreewayEPE).
val_evaluator = dict(type='SceneFlowMetric')
test_evaluator = val_evaluator
