"""Speed and memory of models: forward, training step, and the reference path.

Examples::

    # Forward time and peak memory, B=1, 8192 points.
    python tools/analysis_tools/benchmark.py configs/bpfn/bpfn_ft3d.py
    # A training step (forward, backward, optimizer) at B=2; for a
    # distillation config also the student-only step, and their ratio.
    python tools/analysis_tools/benchmark.py configs/kd/hint_wn4.py \
        --steps train --batch-size 2
    # bpfn against the original's algorithms (dense neighbour search, plain
    # farthest point sampling loop, no chunks), same weights, for the
    # teacher and every student, on 2 threads.
    python tools/analysis_tools/benchmark.py --all --compare-reference \
        --threads 2

    # The same on a real scene: a sample folder of the HPLFlowNet layout
    # (pc1.npy, pc2.npy), or a .pt file with pc1, pc2 and gt_flow.
    python tools/analysis_tools/benchmark.py --all --compare-reference \
        --threads 2 \
        --scene data/FlyingThings3D_subset_processed_35m/val/0000000

    # What the neighbour searches and farthest point sampling, which every
    # model runs alike, cost each forward: the forward timed also with
    # them replayed from a recording, and the students against the
    # teacher without them.
    python tools/analysis_tools/benchmark.py --all --breakdown --threads 2

    # The exported ONNX model in onnxruntime beside PyTorch, same scene,
    # onnxruntime's intra-op threads set to torch's.
    python tools/analysis_tools/benchmark.py --all --backend onnxruntime \
        --threads 2

Every measurement interleaves what it compares in one process, the order
turning by one place each round (A B C, B C A, ...), and reports medians of
wall time and of process CPU time; ratios are medians of the ratios taken
within each round (A / B of the same round), so that they hold on a busy
machine even when the absolute times do not. With ``--compare-reference``
each round runs the models' bpfn paths one after the other, then their
reference paths, so that the ratios between models come from runs seconds
apart.
"""
import argparse
import contextlib
import copy
import glob
import json
import operator
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from bpfn.ops import (SearchRecord, record_searches, reference_algorithms,
                      replay_searches)
from bpfn.ops.furthest_point_sample import compiled_loop
from bpfn.ops.kd_trees import tree_backend
from bpfn.registry import MODELS
from bpfn.utils.model_config import is_distiller, student_config
from bpfn.utils.precision import full_float32
from bpfn.utils.tool_utils import physical_cores

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEACHER_CONFIG = osp.join('configs', 'bpfn', 'bpfn_ft3d.py')
# The fixture tolerance of the comparison with the original (see
# tests/test_models/test_flow_nets/test_bi_pointflownet.py).
P99_TOLERANCE = 1e-4
MAX_TOLERANCE = 2e-3
LOSS_TOLERANCE = 1e-4
# The paths a model is timed on: bpfn's, bpfn's with its recorded searches
# and samples replayed (--breakdown), and the original's algorithms.
BPFN, REPLAYED, REFERENCE = 'bpfn', 'searches replayed', 'reference'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Forward and training-step time and peak memory, '
        'optionally against the reference path')
    parser.add_argument('config', nargs='?',
                        help='model or distillation config file')
    parser.add_argument('--all', action='store_true',
                        help='the teacher and every student of configs/bpfn')
    parser.add_argument('--compare-reference', action='store_true',
                        help='also run the original\'s algorithms (same '
                        'weights), check that both give the same flows, and '
                        'print both and their ratio')
    parser.add_argument('--backend', choices=['torch', 'onnxruntime'],
                        default='torch',
                        help='onnxruntime: also export each model to ONNX '
                        '(tools/deployment/export_onnx.py, B and N of this '
                        'run) and time it in onnxruntime beside PyTorch on '
                        'the same scene, interleaved, with as many '
                        'onnxruntime intra-op threads as torch threads; '
                        'forward only')
    parser.add_argument('--steps', choices=['forward', 'train', 'both'],
                        default=None,
                        help='what to time (default: forward; both with '
                        '--compare-reference)')
    parser.add_argument('--breakdown', action='store_true',
                        help='also time each forward with its neighbour '
                        'searches and farthest point samples replayed from '
                        'a recording of the same scene (bpfn.ops.'
                        'replay_searches): the time of the rest of the '
                        'network, and what the searches and samples, which '
                        'every model of the pyramid runs alike, cost it')
    parser.add_argument('--train-step', action='store_true',
                        help='same as --steps train')
    parser.add_argument('--points', type=int, default=8192,
                        help='points per cloud (default 8192)')
    parser.add_argument('--scene', metavar='PATH',
                        help='time a real scene instead of the synthetic '
                        'one: a sample folder of the HPLFlowNet processed '
                        'layout (pc1.npy, pc2.npy with corresponding rows; '
                        'FlyingThings3D or KITTI), or a .pt file with pc1, '
                        'pc2 and gt_flow tensors; --points of each cloud '
                        'are drawn without replacement (seed 0)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--runs', type=int, default=5,
                        help='timed runs of each path (medians reported)')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: the physical cores '
                        'this process may use)')
    parser.add_argument('--fresh-memory', action='store_true',
                        help='also measure each path\'s peak memory in a '
                        'fresh process (one warm-up and one timed call; '
                        'slower)')
    parser.add_argument('--json', metavar='FILE',
                        help='also write the results to FILE as JSON')
    parser.add_argument('--memory-probe', nargs=2,
                        metavar=('PATH', 'STEP'), help=argparse.SUPPRESS)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if not args.all and not args.config:
        parser.error('give a config file or --all')
    if args.train_step:
        args.steps = 'train'
    if args.steps is None:
        args.steps = 'both' if args.compare_reference else 'forward'
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be at least 1, got {args.threads}')
    if args.backend == 'onnxruntime' and (args.compare_reference
                                          or args.steps != 'forward'):
        parser.error('--backend onnxruntime times forwards only; it does not '
                     'combine with --compare-reference or --steps train')
    if args.breakdown and args.steps == 'train':
        parser.error('--breakdown splits forwards; give --steps forward or '
                     'both')
    return args


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


def _scene_arrays(path: str) -> tuple:
    """pc1 (N1, 3), pc2 (N2, 3) and the flow of pc1 (N1, 3) of a scene
    file or folder (see ``--scene``), as float32 NumPy arrays."""
    if osp.isdir(path):
        # Imported here: the datasets package adds about 28 MiB to the
        # process, which the fresh-process memory would count.
        from bpfn.datasets.readers import read_npy_points
        files = [osp.join(path, f'pc{i}.npy') for i in (1, 2)]
        missing = [f for f in files if not osp.isfile(f)]
        if missing:
            raise FileNotFoundError(
                f'--scene {path}: no {" or ".join(missing)}; expected a '
                'sample folder of the HPLFlowNet processed layout')
        pc1, pc2 = (read_npy_points(f) for f in files)
        if pc1.shape != pc2.shape:
            raise ValueError(
                f'--scene {path}: pc1.npy has {len(pc1)} points and pc2.npy '
                f'{len(pc2)}; the HPLFlowNet layout has corresponding rows')
        pc1, pc2 = pc1.astype(np.float32), pc2.astype(np.float32)
        return pc1, pc2, pc2 - pc1
    if not osp.isfile(path):
        raise FileNotFoundError(f'--scene {path}: no such file or folder')
    data = torch.load(path, map_location='cpu', weights_only=True)
    arrays = []
    for key in ('pc1', 'pc2', 'gt_flow'):
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'--scene {path}: expected a dict with tensors '
                             f'pc1, pc2 and gt_flow; {key!r} is missing')
        one_cloud = (value.dim() == 2
                     or (value.dim() == 3 and value.shape[0] == 1))
        if not one_cloud or value.shape[-1] != 3:
            raise ValueError(f'--scene {path}: {key} has shape '
                             f'{tuple(value.shape)}, expected (N, 3) '
                             'or (1, N, 3)')
        arrays.append(value.reshape(-1, 3).float().numpy())
    if len(arrays[2]) != len(arrays[0]):
        raise ValueError(f'--scene {path}: gt_flow has {len(arrays[2])} '
                         f'rows, pc1 {len(arrays[0])}')
    return tuple(arrays)


def scene_batch(path: str, batch: int, points: int, device: str) -> tuple:
    """A real pair of clouds (see ``--scene``), (B, N, 3): ``points`` of
    each cloud drawn without replacement (seed 0, the two clouds
    independently, as the datasets sample them), the same in every batch
    row; all of a cloud, in its order, when it has exactly ``points``."""
    pc1, pc2, flow = _scene_arrays(path)
    rng = np.random.default_rng(0)
    picks = []
    for name, cloud in (('pc1', pc1), ('pc2', pc2)):
        if len(cloud) < points:
            raise ValueError(f'--scene {path}: {name} has {len(cloud)} '
                             f'points, fewer than --points {points}')
        picks.append(np.arange(points) if len(cloud) == points else
                     np.sort(rng.choice(len(cloud), points, replace=False)))
    pc1 = torch.from_numpy(pc1[picks[0]]).expand(batch, -1, -1)
    pc2 = torch.from_numpy(pc2[picks[1]]).expand(batch, -1, -1)
    flow = torch.from_numpy(flow[picks[0]])
    inputs = dict(pc1=pc1.contiguous().to(device),
                  pc2=pc2.contiguous().to(device))
    samples = [dict(gt_flow=flow.to(device)) for _ in range(batch)]
    return inputs, samples


def benchmark_batch(args: argparse.Namespace) -> tuple:
    """The scene of ``--scene``, or the synthetic one."""
    if args.scene:
        return scene_batch(args.scene, args.batch_size, args.points,
                           args.device)
    return synthetic_batch(args.batch_size, args.points, args.device)


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class PeakMemory:
    """Peak memory while the block runs: GPU memory allocated, or CPU RSS.

    On CPU a thread samples the process's resident memory every
    millisecond (``/proc/self/statm``); where that file is missing the
    process's lifetime peak (``ru_maxrss``) is reported instead.
    """

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith('cuda')
        self.peak = self.start = 0
        self._stop = threading.Event()
        self._thread = None

    @property
    def kind(self) -> str:
        return 'peak GPU memory allocated' if self.cuda else 'peak RSS'

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self) -> 'PeakMemory':
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        elif osp.exists('/proc/self/statm'):
            self.peak = self.start = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes())
        else:
            # ru_maxrss is in KiB on Linux.
            self.peak = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss * 1024

    @property
    def added(self) -> int:
        """Peak above the memory in use when the block started."""
        return max(0, self.peak - self.start)


def measure(fn: Callable[[], None], device: str) -> Dict[str, float]:
    """Wall time, process CPU time (s) and peak memory (bytes) of ``fn``:
    the peak and how far it rose above the memory in use before."""
    with PeakMemory(device) as mem:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return dict(wall=wall, cpu=cpu, peak=mem.peak, added=mem.added)


def interleaved(fns: Dict[str, Callable[[], None]],
                runs: int,
                warmup: int,
                device: str,
                groups: Optional[List[List[str]]] = None
                ) -> Dict[str, Dict[str, float]]:
    """Time several functions in turns, one run of each per round.

    Every round runs the ``groups`` one after the other (default: one group
    of all functions, in their order), and within each group the order
    turns by one place each round (A B C, B C A, C A B, ...), so that no
    function always runs right after the same one: what one leaves behind
    (caches, memory returned to the system) does not always fall on the
    same other. Functions compared with each other belong in one group, so
    that they run close together in time.

    Returns:
        dict: Per name, medians of ``wall`` and ``cpu`` seconds over the
        runs, the largest ``peak`` and ``added`` memory, and the
        ``rounds``: (wall, cpu) of every run, in the order taken.
    """
    groups = groups or [list(fns)]
    listed = [name for group in groups for name in group]
    if len(set(listed)) != len(listed) or set(listed) != set(fns):
        raise ValueError('interleaved: groups must list every function '
                         f'exactly once; got {groups} for {list(fns)}')
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples = {name: [] for name in fns}
    for turn in range(runs):
        for group in groups:
            shift = turn % len(group)
            for name in group[shift:] + group[:shift]:
                samples[name].append(measure(fns[name], device))
    return {
        name: dict(
            wall=statistics.median(s['wall'] for s in runs_),
            cpu=statistics.median(s['cpu'] for s in runs_),
            peak=max(s['peak'] for s in runs_),
            added=max(s['added'] for s in runs_),
            rounds=[(s['wall'], s['cpu']) for s in runs_])
        for name, runs_ in samples.items()
    }


def _within_rounds(mine: dict, base: dict,
                   combine: Callable[[float, float], float]) -> tuple:
    """Medians over the runs of ``combine(mine, base)`` (wall, CPU), each
    run's pair taken within one round of :func:`interleaved`."""
    pairs = list(zip(mine['rounds'], base['rounds']))
    return tuple(statistics.median(combine(m[i], b[i]) for m, b in pairs)
                 for i in (0, 1))


def round_difference(mine: dict, base: dict) -> tuple:
    """Medians over the runs of ``mine - base`` (wall, CPU seconds), each
    run's difference taken within one round of :func:`interleaved`."""
    return _within_rounds(mine, base, operator.sub)


def round_ratio(mine: dict, base: dict) -> tuple:
    """Medians over the runs of ``mine / base`` (wall, CPU), each run's
    ratio taken within one round of :func:`interleaved`: steadier on a
    shared machine than the ratio of the medians."""
    return _within_rounds(mine, base, operator.truediv)


def forward_fn(net: torch.nn.Module, inputs: dict, reference: bool,
               replay: Optional[SearchRecord] = None) -> Callable[[], None]:
    """A forward in ``'tensor'`` mode, on the reference path or, with
    ``replay``, with the recorded searches and samples replayed."""

    @torch.no_grad()
    def forward() -> None:
        net.eval()
        with reference_algorithms(reference), \
                (replay_searches(replay) if replay is not None
                 else contextlib.nullcontext()):
            net(inputs, mode='tensor')

    return forward


def recorded_searches(net: torch.nn.Module, inputs: dict) -> SearchRecord:
    """The neighbour searches and samples of one forward of ``net``."""
    with torch.no_grad(), record_searches() as record:
        net.eval()(inputs, mode='tensor')
    return record


def train_step_fn(model: torch.nn.Module, inputs: dict, samples: list,
                  reference: bool) -> Callable[[], None]:
    """Forward in ``'loss'`` mode, backward and an Adam step."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)

    def step() -> None:
        model.train()
        optimizer.zero_grad()
        with reference_algorithms(reference):
            losses = model(inputs, samples, mode='loss')
            sum(v for k, v in losses.items() if 'loss' in k).backward()
        optimizer.step()

    return step


def relative_point_error(pred: torch.Tensor,
                         ref: torch.Tensor) -> torch.Tensor:
    """Per point max |error| over x, y, z over the level's max |value|."""
    err = (pred - ref).abs().amax(dim=-1).flatten().double()
    return err / ref.abs().max().double().clamp_min(1e-30)


def compare_outputs(net: torch.nn.Module, inputs: dict,
                    samples: list) -> Dict[str, object]:
    """Run bpfn and the reference path once each and compare them.

    Flows of every level (eval mode): the 99th percentile and the maximum of
    the per-point relative error; sampling indices equal; the training loss
    (train mode, no optimizer step) within a relative 1e-4. Both run in
    full float32 (no TF32 on a GPU, :func:`bpfn.utils.full_float32`); the
    timed runs keep torch's defaults.
    """
    outs = {}
    for reference in (False, True):
        with torch.no_grad(), reference_algorithms(reference), \
                full_float32():
            outs[reference] = net.eval()(inputs, mode='tensor')
    p99 = worst = 0.
    for got, expected in zip(outs[False]['flows'], outs[True]['flows']):
        err = relative_point_error(got.float(), expected.float())
        p99 = max(p99, torch.quantile(err, 0.99).item())
        worst = max(worst, err.max().item())
    fps_equal = all(
        torch.equal(a, b) for key in ('fps_idx_pc1', 'fps_idx_pc2')
        for a, b in zip(outs[False][key], outs[True][key]))
    losses = {}
    for reference in (False, True):
        with torch.no_grad(), reference_algorithms(reference), \
                full_float32():
            losses[reference] = net.train()(inputs, samples,
                                            mode='loss')['loss'].item()
    net.eval()
    loss_err = abs(losses[False] - losses[True]) / max(abs(losses[True]),
                                                       1e-30)
    same = (p99 <= P99_TOLERANCE and worst <= MAX_TOLERANCE and fps_equal
            and loss_err <= LOSS_TOLERANCE)
    return dict(p99=p99, max=worst, fps_equal=fps_equal, loss_err=loss_err,
                same=same)


def onnxruntime_fn(net: torch.nn.Module, inputs: dict, folder: str,
                   name: str, threads: int, device: str) -> tuple:
    """Export ``net`` (on CPU) and a forward of it in onnxruntime.

    Returns:
        tuple: The forward, and a dict with the parity figures against
        bpfn's flows, the export's size and session-creation seconds.
    """
    from bpfn.apis.export import (audited_default_flows, export_onnx,
                                  flow_errors, onnx_flows, onnx_session,
                                  reference_flows)
    pc1, pc2 = inputs['pc1'].cpu(), inputs['pc2'].cpu()
    path = osp.join(folder, f'{name}.onnx')
    cpu_net = copy.deepcopy(net).cpu().eval()
    info = export_onnx(cpu_net, path, (pc1, pc2))
    providers = ['CPUExecutionProvider']
    if device.startswith('cuda'):
        import onnxruntime
        if 'CUDAExecutionProvider' not in \
                onnxruntime.get_available_providers():
            raise RuntimeError(
                'benchmark --backend onnxruntime --device cuda: this '
                'onnxruntime has no CUDAExecutionProvider (pip install '
                'onnxruntime-gpu), or run with --device cpu')
        providers = ['CUDAExecutionProvider']
    start = time.perf_counter()
    session = onnx_session(path, threads, providers)
    info['session_s'] = time.perf_counter() - start
    got = onnx_flows(session, pc1, pc2)
    info.update(flow_errors(got, reference_flows(cpu_net, pc1, pc2, True)))
    flows, audit = audited_default_flows(cpu_net, pc1, pc2)
    default = flow_errors(got, flows)
    info.update(default_p99=default['p99'], default_max=default['max'],
                tie_rows=audit.tie_rows, ties_only=audit.exact)
    feed = {'pc1': pc1.numpy(), 'pc2': pc2.numpy()}

    def forward() -> None:
        session.run(None, feed)

    return forward, info


def build(config: str, cfg_options: Optional[dict], device: str) -> tuple:
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'bpfn'))
    torch.manual_seed(0)  # the same weights on every run of the tool
    model = MODELS.build(copy.deepcopy(cfg.model)).to(device)
    return cfg, model


def teacher_ratios(res: dict, base: str, nets: Dict[str, object],
                   path: str) -> str:
    """Each student's time on ``path`` relative to the teacher's on it:
    medians of the ratios within each round (wall, CPU)."""
    ratios = []
    for name in nets:
        if name != base:
            wall, cpu = round_ratio(res[(name, path)], res[(base, path)])
            ratios.append(f'{name} {wall:.2f}x {cpu:.2f}x')
    return ', '.join(ratios)


def print_breakdown(res: dict, base: Optional[str],
                    nets: Dict[str, object]) -> None:
    """``--breakdown``: what the searches and samples cost each forward
    (its time less the replayed one's, within each round), and the
    students' forwards without them relative to the teacher's."""
    parts = []
    for name in nets:
        full = res[(name, BPFN)]
        wall, cpu = round_difference(full, res[(name, REPLAYED)])
        parts.append(f'{name} {wall:.3f} s wall ({wall / full["wall"]:.0%}'
                     f'), {cpu:.3f} s CPU')
    print('neighbour searches and farthest point sampling (the forward less '
          'the forward with them replayed; medians of the differences within '
          'each round): ' + ', '.join(parts))
    if base is not None and len(nets) > 1:
        print('forward time with the searches and sampling replayed (the '
              'rest of the network), relative to the teacher\'s (wall, CPU; '
              'medians of the ratios within each round): ' +
              teacher_ratios(res, base, nets, REPLAYED))


def config_list(args: argparse.Namespace) -> List[str]:
    if not args.all:
        return [args.config]
    folder = osp.join(REPO, 'configs', 'bpfn')
    students = sorted(
        p for p in glob.glob(osp.join(folder, '*.py'))
        if osp.basename(p) != osp.basename(TEACHER_CONFIG))
    return [osp.join(REPO, TEACHER_CONFIG)] + students


def _gib(value: float) -> str:
    return f'{value / 2**30:.2f} GiB'


def print_table(rows: List[List[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print('  '.join('-' * w for w in widths))


def fresh_process_memory(args: argparse.Namespace, config: str,
                         reference: bool, step: str) -> Optional[int]:
    """Peak memory (bytes) of a new process running one path and step."""
    cmd = [sys.executable, osp.abspath(__file__), config, '--memory-probe',
           'reference' if reference else 'bpfn', step, '--points',
           str(args.points), '--batch-size', str(args.batch_size),
           '--device', args.device, '--threads',
           str(torch.get_num_threads())]
    if args.scene:
        cmd += ['--scene', args.scene]
    if args.cfg_options:
        cmd += ['--cfg-options'] + [f'{k}={v}'
                                    for k, v in args.cfg_options.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith('memory-probe '):
            return int(line.split()[1])
    print(f'memory probe of {config} failed: {proc.stderr[-2000:]}')
    return None


def memory_probe(args: argparse.Namespace) -> int:
    """Child of :func:`fresh_process_memory`: print the peak, in bytes."""
    path, step = args.memory_probe
    torch.set_num_threads(args.threads or physical_cores())
    cfg, model = build(args.config, args.cfg_options, args.device)
    net = model.student if is_distiller(cfg.model) else model
    inputs, samples = benchmark_batch(args)
    fn = (forward_fn(net, inputs, path == 'reference') if step == 'forward'
          else train_step_fn(model, inputs, samples, path == 'reference'))
    fn()
    res = measure(fn, args.device)
    print(f'memory-probe {res["peak"]}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        return memory_probe(args)
    threads = args.threads or physical_cores()
    torch.set_num_threads(threads)
    configs = config_list(args)
    inputs, samples = benchmark_batch(args)
    device_name = (torch.cuda.get_device_name(args.device)
                   if args.device.startswith('cuda') else 'CPU')
    print(f'device: {args.device} ({device_name}), torch '
          f'{torch.__version__}, threads: {torch.get_num_threads()} '
          f'({"--threads" if args.threads else "physical cores"}), '
          f'B={args.batch_size}, N={args.points}, {args.runs} runs of each '
          f'after {args.warmup} warm-up, interleaved; medians')
    print('scene: ' + (args.scene or 'synthetic (benchmark.synthetic_batch)'))
    if args.device == 'cpu':
        print('farthest point sampling: ' + (
            'compiled loop (Numba)' if compiled_loop() else
            'NumPy loop (Numba, optional, is not installed)'))
        print('k-d tree of the neighbour search: ' + tree_backend()[1])
    nets, models, distill = {}, {}, {}
    for path in configs:
        cfg, model = build(path, args.cfg_options, args.device)
        name = osp.splitext(osp.basename(path))[0]
        models[name] = model
        distiller = is_distiller(cfg.model)
        nets[name] = model.student if distiller else model
        if distiller:
            distill[name] = student_config(cfg.model)
    if args.backend == 'onnxruntime':
        return onnxruntime_main(args, nets, inputs)

    ok, checks = True, {}
    if args.compare_reference:
        print('\nbpfn against the reference path (same weights):')
        for name, net in nets.items():
            res = compare_outputs(net, inputs, samples)
            checks[name] = res
            ok &= res['same']
            print(f'  {name}: flows p99 {res["p99"]:.1e}, max '
                  f'{res["max"]:.1e} (limits {P99_TOLERANCE:g}, '
                  f'{MAX_TOLERANCE:g}); sampling indices '
                  f'{"equal" if res["fps_equal"] else "DIFFERENT"}; loss '
                  f'{res["loss_err"]:.1e} relative -> '
                  f'{"same" if res["same"] else "NOT THE SAME"}')

    steps = ['forward', 'train'] if args.steps == 'both' else [args.steps]
    results = {}
    for step in steps:
        fns = {}
        for name in nets:
            fns[(name, BPFN)] = (
                forward_fn(nets[name], inputs, False) if step == 'forward'
                else train_step_fn(models[name], inputs, samples, False))
            if step == 'forward' and args.breakdown:
                fns[(name, REPLAYED)] = forward_fn(
                    nets[name], inputs, False,
                    recorded_searches(nets[name], inputs))
            if args.compare_reference:
                fns[(name, REFERENCE)] = (
                    forward_fn(nets[name], inputs, True) if step == 'forward'
                    else train_step_fn(models[name], inputs, samples, True))
            if (step == 'train' and name in distill
                    and not args.compare_reference):
                student = MODELS.build(copy.deepcopy(distill[name])).to(
                    args.device)
                fns[(name + ' (student only)', BPFN)] = train_step_fn(
                    student, inputs, samples, False)
        # The models' bpfn paths (and their replays) one after the other,
        # then their reference paths: the ratios to the teacher are taken
        # between runs seconds apart, not across the reference path's
        # longer runs.
        groups = [[key for key in fns if key[1] != REFERENCE],
                  [key for key in fns if key[1] == REFERENCE]]
        results[step] = interleaved(fns, args.runs, args.warmup, args.device,
                                    [group for group in groups if group])

    fresh = {}
    if args.fresh_memory:
        paths_of = dict(zip((osp.splitext(osp.basename(p))[0]
                             for p in configs), configs))
        for step, res in results.items():
            for name, path in res:
                if name in paths_of and path != REPLAYED:
                    fresh[(step, name, path)] = fresh_process_memory(
                        args, paths_of[name], path == REFERENCE, step)

    mem_kind = PeakMemory(args.device).kind
    print(f'\n{mem_kind}: the highest during a call (the process: models and '
          'libraries included); added: its rise during the call'
          + ('; fresh process: the peak of a process that ran only that '
             'path (one warm-up, one call)' if fresh else ''))
    for step, res in results.items():
        title = ('forward (eval, no grad)' if step == 'forward' else
                 'training step (forward, backward, Adam)')
        print(f'\n{title}:')
        header = ['config', 'path', 'wall s', 'CPU s', mem_kind, 'added']
        if fresh:
            header += ['fresh process']
        if args.compare_reference:
            header += ['reference / bpfn (wall, CPU, memory)*']
        rows = [header]
        for (name, path), r in res.items():
            row = [name, path, f'{r["wall"]:.3f}', f'{r["cpu"]:.3f}',
                   _gib(r['peak']), _gib(r['added'])]
            if fresh:
                value = fresh.get((step, name, path))
                row += [_gib(value) if value else '-']
            if args.compare_reference:
                if path == REFERENCE:
                    fast = res[(name, BPFN)]
                    # Memory: of the fresh processes where measured.
                    mine = fresh.get((step, name, REFERENCE)) or r['peak']
                    theirs = fresh.get((step, name, BPFN)) or fast['peak']
                    wall, cpu = round_ratio(r, fast)
                    row += [f'{wall:.2f}x, {cpu:.2f}x, {mine / theirs:.2f}x']
                else:
                    row += ['']
            rows.append(row)
        print_table(rows)
        if args.compare_reference:
            print('* time ratios: medians of the ratios within each round')
        base = osp.splitext(osp.basename(TEACHER_CONFIG))[0]
        if len(nets) > 1 and (base, BPFN) in res:
            print(f'bpfn {step} time relative to the teacher (wall, CPU; '
                  'medians of the ratios within each round): ' +
                  teacher_ratios(res, base, nets, BPFN))
        if any(path == REPLAYED for _, path in res):
            print_breakdown(res, base if (base, BPFN) in res else None,
                            nets)
        for name in distill:
            key = (name + ' (student only)', BPFN)
            if key in res:
                ratio = round_ratio(res[(name, BPFN)], res[key])[0]
                print(f'{name}: distillation step / student-only step = '
                      f'{ratio:.2f}x (wall, median of the ratios within each '
                      'round)')
    if args.json:
        report = dict(
            device=args.device, device_name=device_name,
            torch=torch.__version__, threads=torch.get_num_threads(),
            batch_size=args.batch_size, points=args.points, runs=args.runs,
            scene=args.scene,
            same_outputs=ok if args.compare_reference else None,
            checks=checks,
            results=[
                dict(step=step, config=name, path=path,
                     fresh_peak=fresh.get((step, name, path)), **r)
                for step, res in results.items()
                for (name, path), r in res.items()
            ])
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
    if args.compare_reference and not ok:
        print('\nbpfn and the reference path gave different outputs')
        return 1
    return 0


def onnxruntime_main(args: argparse.Namespace, nets: Dict[str, object],
                     inputs: dict) -> int:
    """``--backend onnxruntime``: PyTorch and onnxruntime forwards."""
    import tempfile
    threads = torch.get_num_threads()
    fns, infos = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for name, net in nets.items():
            fns[(name, 'PyTorch')] = forward_fn(net, inputs, False)
            fns[(name, 'onnxruntime')], infos[name] = onnxruntime_fn(
                net, inputs, folder, name, threads, args.device)
        print(f'\nonnxruntime against bpfn\'s export path (same weights '
              f'and scene; limits p99 {P99_TOLERANCE:g}, max '
              f'{MAX_TOLERANCE:g}; in brackets the default path, which '
              'breaks exact distance ties in torch.topk\'s order, and the '
              'query rows where it takes other tied neighbours):')
        for name, info in infos.items():
            verdict = 'same' if info['ok'] else 'NOT THE SAME'
            print(f'  {name}: flows p99 {info["p99"]:.1e}, max '
                  f'{info["max"]:.1e} -> {verdict} (default path p99 '
                  f'{info["default_p99"]:.1e}, max {info["default_max"]:.1e}'
                  f', {info["tie_rows"]} tie rows'
                  f'{"" if info["ties_only"] else ", DIFFERS BEYOND TIES"})'
                  f'; {info["size"] / 2**20:.1f} MiB, export '
                  f'{info["export_s"]:.1f} s, session '
                  f'{info["session_s"]:.1f} s')
        res = interleaved(fns, args.runs, args.warmup, args.device)
    print(f'\nforward (B={args.batch_size}, N={args.points}, {threads} '
          f'threads; onnxruntime intra-op threads {threads}):')
    rows = [['config', 'backend', 'wall s', 'CPU s',
             'onnxruntime / PyTorch (wall, CPU)']]
    for (name, backend), r in res.items():
        ratio = ''
        if backend == 'onnxruntime':
            base = res[(name, 'PyTorch')]
            wall, cpu = round_ratio(r, base)
            ratio = f'{wall:.2f}x, {cpu:.2f}x'
        rows.append([name, backend, f'{r["wall"]:.3f}', f'{r["cpu"]:.3f}',
                     ratio])
    print_table(rows)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(
                device=args.device, threads=threads, torch=torch.__version__,
                batch_size=args.batch_size, points=args.points,
                runs=args.runs, scene=args.scene, checks=infos,
                results=[dict(config=name, backend=backend, **r)
                         for (name, backend), r in res.items()]), f, indent=1)
    return 0 if all(info['ok'] and info['ties_only']
                    for info in infos.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
