# Distillation on unlabelled scenes, the synthetic twin of
# configs/kd/unlabeled_kitti_raw_wn4.py (runs without data): half of the 200
# training scenes keep their ground truth (labeled_fraction=0.5), every
# batch of 4 holds 2 labelled and 2 unlabelled scenes, and
#   loss = GT (mean over the 2 labelled samples)
#        + 0.3 * output KD to the committed demo teacher (all 4 samples)
#        + PointPWC-Net's self-supervised terms (the 2 unlabelled samples).
# labeled_frac (0.5) is logged every iteration; validation and test scenes
# keep their labels.
_base_ = ['./kd_output.py']
model = dict(
    self_supervised_losses=[
        dict(type='ChamferLoss', loss_weight=1.0),
        dict(type='SmoothnessLoss', loss_weight=1.0),
        dict(type='LaplacianLoss', loss_weight=0.3),
    ],
    self_supervised_on='unlabeled')
train_dataloader = dict(
    batch_sampler=dict(type='LabeledShareBatchSampler', labeled_per_batch=2),
    dataset=dict(labeled_fraction=0.5))
