# KITTI raw drives as unlabelled training pairs (no ground-truth flow): two
# consecutive Velodyne scans of a drive form a sample, with KITTI's test
# preprocessing (kitti.py): ground removal at y < -1.4 m, depth below 35 m,
# 8192 points sampled per cloud. Only variables, to be mixed into a training
# set by a leaf config (see configs/kd/unlabeled_kitti_raw_wn4.py):
#   _base_ = [..., '../_base_/datasets/kitti_raw_unlabeled.py']
#   datasets=[..., _base_.kitti_raw_train_dataset]
#
# Layout of the KITTI raw download under kitti_raw_data_root, any number of
# drives (pairs never span two drives):
#   <date>/<date>_drive_<nnnn>_sync/velodyne_points/data/0000000000.bin ...
# Keep out the drives of the KITTI scene flow 2015 scenes (the 29 drives
# named in the devkit's train_mapping.txt, e.g. 2011_09_26_drive_0005_sync):
# the students are tested on those scenes.
#
# The scans are float32 (x, y, z, intensity) in Velodyne axes (x forward,
# y left, z up); axes='kitti_velodyne' turns them into the processed
# FT3D / KITTI axes the models are trained in (x left, y up, z forward), so
# the road, 1.73 m below the sensor, falls under GroundRemoval's -1.4 m, and
# DepthFilter(min_depth=0) keeps the points in front of the car (the camera's
# half of the 360-degree scan, as in KITTI scene flow).
kitti_raw_data_root = 'data/kitti_raw'
kitti_raw_num_points = 8192

kitti_raw_pipeline = [
    dict(type='LoadScanPair'),
    dict(type='GroundRemoval', threshold=-1.4),
    dict(type='DepthFilter', max_depth=35.0, min_depth=0.0),
    dict(type='RandomSampleFlowPoints', num_points=kitti_raw_num_points),
    dict(type='PackFlowInputs'),
]
kitti_raw_train_dataset = dict(
    type='UnlabeledScans',
    data_root=kitti_raw_data_root,
    extensions=('.bin', ),
    axes='kitti_velodyne',
    frame_step=1,  # consecutive scans, 0.1 s apart (10 Hz)
    pipeline=kitti_raw_pipeline)
