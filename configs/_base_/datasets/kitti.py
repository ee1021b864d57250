# KITTI scene flow 2015, the 142 standard scenes (`tools/create_data.py
# kitti`), evaluated without fine-tuning: ground removal, depth < 35 m,
# deterministic sampling.
kitti_dataset_type = 'KITTI'
kitti_data_root = 'data/kitti_processed'
kitti_num_points = 8192

kitti_test_pipeline = [
    dict(type='LoadSceneFlowNpy'),
    dict(type='GroundRemoval', threshold=-1.4),
    dict(type='DepthFilter', max_depth=35.0),
    dict(
        type='RandomSampleFlowPoints',
        num_points=kitti_num_points,
        deterministic=True),
    dict(type='PackFlowInputs'),
]

val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(
        type=kitti_dataset_type,
        data_root=kitti_data_root,
        test_mode=True,
        pipeline=kitti_test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='SceneFlowMetric')
test_evaluator = val_evaluator
