# Train and validate on FlyingThings3D (ft3d.py); test on FT3D val and KITTI
# (the settings of kitti.py) in one run. The metric reports both datasets
# (rows FT3D and KITTI, keys FT3D/EPE3D, KITTI/EPE3D, ..., and each one's
# zero-flow baseline FT3D/zero_flow_EPE3D, ...); the flat EPE3D (for
# save_best) is FT3D's.
_base_ = ['./ft3d.py']

kitti_data_root = 'data/kitti_processed'
kitti_test_pipeline = [
    dict(type='LoadSceneFlowNpy'),
    dict(type='GroundRemoval', threshold=-1.4),
    dict(type='DepthFilter', max_depth=35.0),
    dict(
        type='RandomSampleFlowPoints',
        num_points={{_base_.num_points}},
        deterministic=True),
    dict(type='PackFlowInputs'),
]

test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(
        type='ConcatDataset',
        # The datasets differ only in their name (the rows of the table).
        ignore_keys=['dataset_name'],
        datasets=[
            dict(
                type={{_base_.dataset_type}},
                data_root={{_base_.data_root}},
                split='val',
                test_mode=True,
                pipeline={{_base_.test_pipeline}}),
            dict(
                type='KITTI',
                data_root=kitti_data_root,
                test_mode=True,
                pipeline=kitti_test_pipeline),
        ]))
test_evaluator = dict(type='SceneFlowMetric')
