# The original BPF recipe: Adam, lr 1e-3 halved every 80 epochs down to
# 1e-5, weight decay 1e-4, 560 epochs. The batch size (8) is set by the
# dataset base config (train_dataloader.batch_size).
optim_wrapper = dict(
    type='FiniteLossOptimWrapper',
    non_finite='raise',  # or 'skip': drop batches with a NaN/inf loss
    optimizer=dict(
        type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))

param_scheduler = [
    # lr = max(1e-3 * 0.5 ** (epoch // 80), 1e-5), updated every epoch.
    dict(
        type='ClampedStepLR',
        step_size=80,
        gamma=0.5,
        min_lr=1e-5,
        by_epoch=True,
        begin=0,
        end=560)
]

# Validation after every epoch up to 20, after every 5th epoch from 20 to
# 420 (25, 30, ..., 420), then after every epoch (421, ..., 560). MMEngine
# uses the interval of milestone m from the 1-based epoch m - 1 on and
# validates after epoch e when e % interval == 0, so the milestones are 21
# and 421 (with (20, 5) epoch 19 would not be validated, with (420, 1)
# epoch 419 would be).
train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=560,
    val_interval=1,
    dynamic_intervals=[(21, 5), (421, 1)])
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The lr above is for 8 samples per iteration (one process); enable to
# scale it linearly with the total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=8)
