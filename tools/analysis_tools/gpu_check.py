"""The GPU column of the README's speed section, in one run of ten minutes.

On a machine with a CUDA GPU::

    python tools/analysis_tools/gpu_check.py [--out-dir work_dirs/gpu_check]

runs, each step with its own time limit (9.5 minutes in all):

1. the CUDA tests (``pytest -k cuda``: the fixture comparison with the
   original on the GPU and the GPU neighbour search);
2. ``benchmark.py --all --compare-reference --breakdown --device cuda`` at
   B=1 and B=8: forward and training-step times and peak GPU memory of the
   teacher and every student, against the reference path, and each forward
   with its neighbour searches and sampling replayed;
3. ``tools/train.py`` on the teacher config for a few hundred iterations at
   batch 8 on synthetic 8192-point scenes (no dataset needed), without and
   with ``--amp``: iterations per second and peak GPU memory from the run's
   log.

Everything lands in ``--out-dir`` (logs, JSON results, ``summary.md``); the
summary names the GPU and holds the rows for the README.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEACHER = osp.join(REPO, 'configs', 'bpfn', 'bpfn_ft3d.py')

TRAIN_CONFIG = '''# Teacher training on synthetic scenes (gpu_check.py).
_base_ = [{teacher!r}]
num_points = 8192
pipe = [dict(type='RandomSampleFlowPoints', num_points=num_points),
        dict(type='PackFlowInputs')]
train_dataloader = dict(
    _delete_=True, batch_size={batch}, num_workers={workers},
    persistent_workers={workers} > 0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='flow_collate'),
    dataset=dict(type='SyntheticSceneFlow', split='train',
                 num_samples={samples}, num_points=num_points,
                 pipeline=pipe))
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=1,
                 val_interval=1000)
val_dataloader = None
val_cfg = None
val_evaluator = None
param_scheduler = []
default_hooks = dict(
    logger=dict(interval={log_every}),
    checkpoint=dict(interval=1000, save_best=None, save_last=False))
'''


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='CUDA tests, GPU benchmark and training throughput')
    parser.add_argument('--out-dir', default=osp.join(REPO, 'work_dirs',
                                                      'gpu_check'))
    parser.add_argument('--iters', type=int, default=200,
                        help='training iterations per run (default 200; a '
                        'run stopped by its time limit is measured on the '
                        'iterations it logged)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int,
                        default=min(8, os.cpu_count() or 1),
                        help='data loader workers of the training runs')
    parser.add_argument('--runs', type=int, default=3,
                        help='timed runs of each benchmark path')
    return parser.parse_args(argv)


def run(cmd: List[str], log: str, limit: int) -> dict:
    """Run ``cmd`` with a time limit, its output to ``log``.

    The repository comes first on the child's ``PYTHONPATH``, before what
    the caller's already holds.
    """
    path = os.pathsep.join(
        p for p in (REPO, os.environ.get('PYTHONPATH')) if p)
    start = time.time()
    with open(log, 'w') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        try:
            proc = subprocess.run(cmd, cwd=REPO, stdout=f,
                                  stderr=subprocess.STDOUT, timeout=limit,
                                  env=dict(os.environ, PYTHONPATH=path))
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = 'timeout'
    result = dict(cmd=' '.join(cmd), log=log, code=code,
                  seconds=round(time.time() - start, 1))
    print(f'{osp.basename(log)}: exit {code} after {result["seconds"]} s')
    return result


def train_throughput(work_dir: str, skip_windows: int = 1) -> dict:
    """Iterations per second and peak memory from MMEngine's scalars."""
    records = []
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                records += [json.loads(line) for line in f if line.strip()]
    times = [r['time'] for r in records if 'time' in r][skip_windows:]
    memory = [r['memory'] for r in records if 'memory' in r]
    return dict(
        it_per_s=round(1 / statistics.median(times), 2) if times else None,
        peak_memory_mib=max(memory) if memory else None,
        windows=len(times))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    import torch
    if not torch.cuda.is_available():
        print('gpu_check: no CUDA device; the GPU column stays "not measured '
              'yet"')
        return 1
    gpu = torch.cuda.get_device_name(0)
    print(f'GPU: {gpu}, torch {torch.__version__}')
    out = lambda name: osp.join(args.out_dir, name)  # noqa: E731
    steps = dict(gpu=gpu, torch=torch.__version__)

    # 1. CUDA tests.
    steps['tests'] = run([
        sys.executable, '-m', 'pytest', 'tests', '-q', '-rs', '-k', 'cuda',
        '-p', 'no:cacheprovider'
    ], out('tests.log'), 90)

    # 2. Benchmark against the reference path.
    bench = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py')
    for batch, limit in ((1, 110), (8, 170)):
        steps[f'benchmark_b{batch}'] = run([
            sys.executable, bench, '--all', '--compare-reference',
            '--breakdown', '--device', 'cuda', '--batch-size', str(batch),
            '--runs', str(args.runs),
            '--json', out(f'benchmark_b{batch}.json')
        ], out(f'benchmark_b{batch}.log'), limit)

    # 3. Training throughput, without and with AMP.
    config = out('bpfn_synthetic_train.py')
    with open(config, 'w') as f:
        f.write(
            TRAIN_CONFIG.format(teacher=TEACHER, batch=args.batch_size,
                                workers=args.workers,
                                samples=args.iters * args.batch_size,
                                log_every=max(1, args.iters // 10)))
    for amp in (False, True):
        name = 'train_amp' if amp else 'train_fp32'
        work_dir = out(name)
        steps[name] = run(
            [sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
             '--work-dir', work_dir] + (['--amp'] if amp else []),
            out(name + '.log'), 100)
        steps[name].update(train_throughput(work_dir))

    with open(out('gpu_check.json'), 'w') as f:
        json.dump(steps, f, indent=1)
    write_summary(steps, out('summary.md'), args)
    print(open(out('summary.md')).read())
    return 0


def write_summary(steps: dict, path: str, args: argparse.Namespace) -> None:
    lines = [f'# GPU check: {steps["gpu"]}, torch {steps["torch"]}', '',
             f'CUDA tests: exit {steps["tests"]["code"]} (see tests.log)', '']
    for batch in (1, 8):
        key = f'benchmark_b{batch}'
        json_path = osp.join(args.out_dir, f'{key}.json')
        lines.append(f'## benchmark.py --all --compare-reference --breakdown, '
                     f'B={batch} (exit {steps[key]["code"]})')
        if not osp.exists(json_path):
            lines += ['(no results)', '']
            continue
        with open(json_path) as f:
            report = json.load(f)
        lines += ['| Config | Step | bpfn ms | reference ms | ratio | '
                  'bpfn peak GiB | reference peak GiB | searches replayed '
                  'ms |', '|---|---|---|---|---|---|---|---|']
        rows = {(r['step'], r['config'], r['path']): r
                for r in report['results']}
        for (step, config, which), r in rows.items():
            if which != 'bpfn':
                continue
            ref = rows.get((step, config, 'reference'))
            replayed = rows.get((step, config, 'searches replayed'))
            lines.append(
                f'| {config} | {step} | {1e3 * r["wall"]:.1f} | ' +
                (f'{1e3 * ref["wall"]:.1f} | {ref["wall"] / r["wall"]:.2f}x'
                 if ref else '- | -') +
                f' | {r["peak"] / 2**30:.2f} | ' +
                (f'{ref["peak"] / 2**30:.2f} |' if ref else '- |') +
                (f' {1e3 * replayed["wall"]:.1f} |' if replayed else ' - |'))
        lines += ['', f'same outputs: {report.get("same_outputs")}', '']
    lines.append(f'## tools/train.py, teacher, batch {args.batch_size}, '
                 f'{args.iters} iterations, synthetic 8192-point scenes')
    lines += ['| | it/s | peak GPU memory (MiB) | exit |', '|---|---|---|---|']
    for name in ('train_fp32', 'train_amp'):
        s = steps[name]
        lines.append(f'| {name} | {s["it_per_s"]} | {s["peak_memory_mib"]} '
                     f'| {s["code"]} |')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    sys.exit(main())
