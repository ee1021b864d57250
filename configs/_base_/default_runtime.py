# Runtime settings shared by every bpfn config.
default_scope = 'bpfn'
# BPFNRunner: checkpoints are checked (zip CRCs) and load with
# torch.load(weights_only=True) and bpfn's allowlist (also on --resume); they
# are written atomically; one training run per work dir (train.lock).
runner_type = 'BPFNRunner'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # One checkpoint per epoch, the last 3 kept, plus the best by EPE3D.
    # With several validation datasets the metric's flat EPE3D is the first
    # dataset's. SafeCheckpointHook (MMEngine's CheckpointHook arguments)
    # removes old and previous best files only after the new one is in
    # place, and writes last_checkpoint atomically, relative to the work dir.
    checkpoint=dict(
        type='SafeCheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='EPE3D',
        rule='less'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # SIGTERM / SIGINT stop training after the current iteration (exit code
    # 143 / 130). save_checkpoint=None saves a resumable mid-epoch
    # checkpoint first when running under Slurm (SLURM_JOB_ID set); True or
    # False to choose.
    graceful_stop=dict(type='GracefulStopHook', save_checkpoint=None))

custom_hooks = [
    # Stop with the iteration and sample names on a NaN/inf loss; the policy
    # ('raise' or 'skip') is optim_wrapper.non_finite.
    dict(type='NonFiniteLossHook'),
    # RNG states in checkpoints, restored on resume: exact resume.
    dict(type='RNGStateHook'),
    # A short header on the console (config, work dir, seed, threads,
    # device, parameters); MMEngine's environment and config dumps go to
    # the log file only.
    dict(type='RunHeaderHook'),
    # Validation and test progress with ETA (sparse lines when the output
    # is not a terminal).
    dict(type='EvalProgressHook'),
    # Best EPE3D and its epoch, wall time, best and last checkpoint.
    dict(type='TrainingSummaryHook', metric='EPE3D', rule='less'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py and tools/test.py pick 'nccl' when CUDA is available
    # and 'gloo' otherwise, unless --cfg-options sets it.
    dist_cfg=dict(backend='gloo'))

# seed=None draws a random seed; --seed and --deterministic set these.
randomness = dict(seed=None, deterministic=False)

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

# LocalVisBackend writes scalars.json (tools/analysis_tools/analyze_logs.py
# reads it); tools/train.py --tensorboard adds TensorboardVisBackend (needs
# the tensorboard package).
vis_backends = [
    dict(type='LocalVisBackend'),
]
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')

log_level = 'INFO'
load_from = None
resume = False
# Full unpickling of checkpoints holding foreign objects (--unsafe-load):
# only for files you trust.
unsafe_load = False
