"""Helpers shared by the tests: a tiny synthetic config and tool runner."""
import os.path as osp


REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

TINY_CONFIG = '''
_base_ = [{base!r} + '/models/bpfn.py', {base!r} + '/schedules/adam_560e.py',
          {base!r} + '/default_runtime.py']
model = dict(num_points=[128, 64, 32, 16], feat_neighbors=8,
             flow_neighbors=8, estimator_neighbors=8, width_mult=0.25,
             estimator_channels=[16, 16], estimator_mlp=[16, 16])
pipe = [dict(type='RandomSampleFlowPoints', num_points=256),
        dict(type='PackFlowInputs')]
test_pipe = [dict(type='RandomSampleFlowPoints', num_points=256,
                  deterministic=True), dict(type='PackFlowInputs')]
train_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(type='SyntheticSceneFlow', split='train', num_samples=8,
                 num_points=256, pipeline=pipe))
val_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(type='SyntheticSceneFlow', split='val', num_samples={nval},
                 num_points=256, test_mode=True, pipeline=test_pipe))
test_dataloader = val_dataloader
val_evaluator = dict(type='SceneFlowMetric')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={epochs}, val_interval=1, dynamic_intervals=None)
param_scheduler = []
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(max_keep_ckpts=5))
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='RNGStateHook'),
                dict(type='FaultInjectionHook')]
randomness = dict(seed=1, deterministic=True)
'''


def write_tiny_config(folder, epochs: int = 2, nval: int = 4) -> str:
    """Write the tiny config into ``folder`` and return its path."""
    path = osp.join(str(folder), 'tiny_synthetic.py')
    with open(path, 'w') as f:
        f.write(TINY_CONFIG.format(
            base=osp.join(REPO, 'configs', '_base_'), epochs=epochs,
            nval=nval))
    return path


def run_tool(script: str, *args: str, env: dict = None,
             timeout: int = 120) -> 'subprocess.CompletedProcess':
    """Run ``tools/<script>`` in a subprocess with one OMP thread."""
    import os
    import subprocess
    import sys
    full_env = dict(os.environ, OMP_NUM_THREADS='1')
    full_env.pop('BPFN_KILL_AT_ITER', None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', script), *args],
        env=full_env, capture_output=True, text=True, timeout=timeout)
