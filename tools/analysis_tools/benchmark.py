"""Speed and memory of a model: forward latency and one training step.

Examples::

    # Forward latency and peak memory, B=1, 8192 points.
    python tools/analysis_tools/benchmark.py configs/bpfn/bpfn_ft3d.py
    # One training step (forward, backward, optimizer) at B=2; for a
    # distillation config also the student-only step, and their ratio.
    python tools/analysis_tools/benchmark.py configs/kd/hint_wn4.py \
        --train-step --batch-size 2

Targets on 2 CPU cores (8192 points, B=1 forward): teacher <= 1.5 s,
WN4 <= 1.3 s; a distillation step <= 1.7x the student-only step.
"""
import argparse
import copy
import gc
import resource
import statistics
import sys
import time
from typing import Callable, Dict

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from bpfn.registry import MODELS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Forward latency, training-step time and peak memory')
    parser.add_argument('config', help='model or distillation config file')
    parser.add_argument('--points', type=int, default=8192,
                        help='points per cloud (default 8192)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--runs', type=int, default=5,
                        help='timed runs after warm-up (median reported)')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--train-step', action='store_true',
                        help='time a training step instead of a forward')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def synthetic_batch(batch: int, points: int, device: str) -> tuple:
    """A fixed random pair of clouds with a smooth flow, (B, N, 3)."""
    gen = torch.Generator().manual_seed(0)
    pc1 = torch.rand(batch, points, 3, generator=gen) * \
        torch.tensor([20., 4., 30.]) + torch.tensor([-10., -2., 2.])
    flow = 0.2 * torch.sin(pc1 / 5.0)
    pc2 = pc1 + flow + 0.01 * torch.randn(batch, points, 3, generator=gen)
    inputs = dict(pc1=pc1.to(device), pc2=pc2.to(device))
    samples = [dict(gt_flow=f.to(device)) for f in flow]
    return inputs, samples


def time_runs(fn: Callable[[], None], runs: int, warmup: int,
              device: str) -> Dict[str, float]:
    """Median / min seconds of ``fn`` after warm-up, and peak memory."""
    for _ in range(warmup):
        fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
        peak_kind = 'peak GPU memory allocated'
    else:
        # ru_maxrss is in KiB on Linux: the process's peak resident memory.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_kind = 'peak process RSS'
    return dict(median=statistics.median(times), min=min(times), peak=peak,
                peak_kind=peak_kind)


def train_step_fn(model: torch.nn.Module, inputs: dict,
                  samples: list) -> Callable[[], None]:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    model.train()

    def step() -> None:
        optimizer.zero_grad()
        losses = model(inputs, samples, mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optimizer.step()

    return step


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'bpfn'))
    inputs, samples = synthetic_batch(args.batch_size, args.points,
                                      args.device)
    print(f'config: {args.config}\ndevice: {args.device}, '
          f'threads: {torch.get_num_threads()}, B={args.batch_size}, '
          f'N={args.points}, runs: {args.runs} after {args.warmup} warm-up')
    model_cfg = cfg.model
    is_distiller = 'student' in model_cfg
    model = MODELS.build(copy.deepcopy(model_cfg)).to(args.device)
    if not args.train_step:
        model.eval()
        net = model.student if is_distiller else model

        @torch.no_grad()
        def forward() -> None:
            net(inputs, mode='tensor')

        res = time_runs(forward, args.runs, args.warmup, args.device)
        print(f'forward latency: median {res["median"]:.3f} s, min '
              f'{res["min"]:.3f} s; {res["peak_kind"]}: {res["peak"]:.0f} '
              'MiB')
        return
    res = time_runs(train_step_fn(model, inputs, samples), args.runs,
                    args.warmup, args.device)
    print(f'training step: median {res["median"]:.3f} s, min '
          f'{res["min"]:.3f} s; {res["peak_kind"]}: {res["peak"]:.0f} MiB')
    if is_distiller:
        del model
        gc.collect()
        student = MODELS.build(copy.deepcopy(model_cfg.student)).to(
            args.device)
        base = time_runs(train_step_fn(student, inputs, samples), args.runs,
                         args.warmup, args.device)
        ratio = res['median'] / base['median']
        print(f'student-only step: median {base["median"]:.3f} s; '
              f'distillation / student-only = {ratio:.2f}x '
              '(target <= 1.7x on CPU)')


if __name__ == '__main__':
    sys.exit(main())
