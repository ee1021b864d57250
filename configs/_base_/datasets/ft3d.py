# FlyingThings3D subset (HPLFlowNet processed, `tools/create_data.py ft3d`):
# train on every 4th training frame with the original augmentation, validate
# and test on the whole validation split with deterministic sampling.
dataset_type = 'FlyingThings3D'
data_root = 'data/FlyingThings3D_subset_processed_35m'
num_points = 8192

train_pipeline = [
    dict(type='LoadSceneFlowNpy'),
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
    dict(type='LoadSceneFlowNpy'),
    dict(type='DepthFilter', max_depth=35.0),
    dict(
        type='RandomSampleFlowPoints',
        num_points=num_points,
        deterministic=True),
    dict(type='PackFlowInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        every_k=4,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='SceneFlowMetric')
test_evaluator = val_evaluator
