"""Helpers shared by the tests: a tiny synthetic config, a tool runner, a
script importer and brute-force references of the point ops."""
import importlib.util
import os.path as osp
from types import ModuleType

import torch
from torch import Tensor

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
# FaultInjectionHook is test-only (tests/bpfn_test_hooks.py).
custom_imports = dict(imports=['bpfn_test_hooks'], allow_failed_imports=False)
'''


def write_tiny_config(folder, epochs: int = 2, nval: int = 4) -> str:
    """Write the tiny config into ``folder`` and return its path."""
    path = osp.join(str(folder), 'tiny_synthetic.py')
    with open(path, 'w') as f:
        f.write(TINY_CONFIG.format(
            base=osp.join(REPO, 'configs', '_base_'), epochs=epochs,
            nval=nval))
    return path


def load_script(path: str, name: str) -> ModuleType:
    """Import a script (a tool, the demo) from its file as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def knn_brute_force(k: int, ref: Tensor, query: Tensor) -> Tensor:
    """Reference kNN on ``((a - b) ** 2).sum(-1)`` with a full, stable sort.

    Args:
        k (int): Neighbours per query, ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).

    Returns:
        Tensor: Indices into M, shape (B, S, K), nearest first (ties in
        index order).
    """
    dist = ((query.unsqueeze(2) - ref.unsqueeze(1))**2).sum(-1)
    return torch.sort(dist, dim=-1, stable=True)[1][..., :k]


def furthest_point_sample_brute_force(xyz: Tensor,
                                      num_samples: int) -> Tensor:
    """Readable per-cloud reference of furthest point sampling.

    Args:
        xyz (Tensor): Points, shape (B, N, 3).
        num_samples (int): Number of points to pick, ``S``.

    Returns:
        Tensor: Indices into N, shape (B, S), starting at point 0.
    """
    out = []
    for cloud in xyz:
        chosen = [0]
        dist = torch.full((cloud.shape[0], ), 1e10, dtype=cloud.dtype)
        for _ in range(num_samples - 1):
            step = ((cloud - cloud[chosen[-1]])**2).sum(-1)
            dist = torch.minimum(dist, step)
            chosen.append(int(torch.argmax(dist)))
        out.append(torch.tensor(chosen))
    return torch.stack(out)
