# Distil the Weightnet=4 student from the FT3D teacher on unlabelled KITTI
# raw drives, mixed with labelled FlyingThings3D. Every batch of 8 holds 4
# FT3D scenes (every 4th training frame, with ground truth and the original
# augmentation) and 4 pairs of consecutive KITTI raw scans (no ground truth):
#   loss = GT (mean over the 4 FT3D samples)
#        + 0.3 * output KD to the frozen teacher's flows (all 8 samples)
#        + PointPWC-Net's self-supervised terms (the 4 KITTI raw samples).
# labeled_frac (0.5) is logged every iteration. Validation on FT3D val, test
# on FT3D val and KITTI scene flow 2015 (the 142 scenes, ground removed,
# depth < 35 m, as ft3d_kitti_test.py). Checkpoints load with
# configs/bpfn/bpfn-wn4_ft3d.py.
#
# Data: the processed FT3D and KITTI sets (tools/create_data.py) and the
# KITTI raw drives under data/kitti_raw (see
# configs/_base_/datasets/kitti_raw_unlabeled.py: leave out the drives of
# the scene flow 2015 scenes). An epoch has max(L / 4, U / 4) batches for L
# FT3D scenes (4910) and U KITTI raw pairs: every sample of the larger set
# once, the smaller one repeated to fill its half. With up to 4910 pairs an
# epoch is the 1228 batches of the FT3D configs; with more pairs lower
# train_cfg.max_epochs (and the lr steps) in proportion.
#
# Its synthetic twin, which runs without data: configs/demo/kd_unlabeled.py.
_base_ = [
    '../_base_/models/bpfn_kd.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/datasets/kitti_raw_unlabeled.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    student=dict(weightnet=4),
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)],
    # PointPWC-Net's terms and weights; on the unlabelled samples only
    # (self_supervised_on='all' adds them on the FT3D samples too).
    self_supervised_losses=[
        dict(type='ChamferLoss', loss_weight=1.0),
        dict(type='SmoothnessLoss', loss_weight=1.0),
        dict(type='LaplacianLoss', loss_weight=0.3),
    ],
    self_supervised_on='unlabeled')
train_dataloader = dict(
    batch_size=8,
    # 4 labelled (FT3D) and 4 unlabelled (KITTI raw) samples per batch.
    batch_sampler=dict(type='LabeledShareBatchSampler', labeled_per_batch=4),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        # Only the FT3D metainfo names no frame interval.
        ignore_keys=['dataset_name', 'frame_interval'],
        datasets=[
            _base_.train_dataloader.dataset,
            _base_.kitti_raw_train_dataset,
        ]))
