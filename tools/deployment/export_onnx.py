"""Export a flow network to ONNX and check it against bpfn with onnxruntime.

    python tools/deployment/export_onnx.py CONFIG CKPT --out FILE \
        [--num-points N] [--opset K] [--dynamic-batch]

The graph takes ``pc1`` and ``pc2`` (B, N, 3) float32 and returns the flow
of every pyramid level, each (B, N_l, 3): ``flow`` (full resolution, N
points) first, then ``flow_level1`` ... ``flow_level3``. The number of
points N is fixed at export (``--num-points``, default 8192); the batch is
fixed too unless ``--dynamic-batch``.

After writing FILE (atomically) the tool loads it with onnxruntime (CPU),
runs it on a seeded synthetic scene (the one of
``tools/analysis_tools/benchmark.py``) and compares every level with bpfn's
own flows in PyTorch at the fixture tolerance (per-point relative error
p99 <= 1e-4, max <= 2e-3), printing both figures and the file's size.

It compares with two bpfn paths. The export path (the exported algorithms
run in PyTorch) must agree within the tolerance. The default path may not:
where two neighbour candidates have exactly equal float32 distances, ONNX
TopK takes the lower index and ``torch.topk`` its own selection order, and
on scenes of 8192 points a few such ties can move a level's flows by up to
about 1e-2 relative. So the default path is run with every neighbour search
and sampling also computed on the export path from the same inputs
(``bpfn.ops.neighbour_audit``); the tool prints how many query rows took
other neighbours and checks that their distances are bitwise equal. The
exit status is 0 when the export path agrees and the default path agrees
too or differs at exact ties only; 1 otherwise (2 for bad arguments).

Neighbour search and farthest point sampling use standard ONNX operators
only (no custom domain). The exported neighbour search is the exact dense
one (``|a|^2 + |b|^2 - 2 a.b`` from a matrix product, then TopK): the
k-d tree search of bpfn's CPU path runs outside torch, cannot be traced,
and gives the same neighbours. Farthest point sampling is one
ONNX Loop with the same operations as bpfn's (start at index 0, running
minimum from 1e10, first index of the maximum), so the samples are
identical. The TorchScript-based exporter of torch.onnx is used.
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

import torch

from bpfn.apis import init_model
from bpfn.apis.export import (MAX_TOLERANCE, P99_TOLERANCE,
                              audited_default_flows, custom_domains,
                              export_onnx, flow_errors, onnx_flows,
                              onnx_session, ort_version, reference_flows)
from bpfn.utils import CheckpointError

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))


def synthetic_scene(batch: int, points: int) -> tuple:
    """The seeded scene of ``benchmark.py``: ``pc1``, ``pc2`` (B, N, 3)."""
    sys.path.insert(0, osp.join(TOOLS, 'analysis_tools'))
    try:
        from benchmark import synthetic_batch
    finally:
        sys.path.pop(0)
    inputs, _ = synthetic_batch(batch, points, 'cpu')
    return inputs['pc1'], inputs['pc2']


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Neighbour search and farthest point sampling export to '
        'standard ONNX operators. The k-d tree neighbour search of the '
        'CPU fast path stays out of the export: the exact dense search is '
        'exported instead (the same neighbours).',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='model config (a distillation config '
                        'exports its student)')
    parser.add_argument('checkpoint', help='checkpoint (.pth or '
                        '.safetensors; a distiller checkpoint gives its '
                        'student)')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--num-points', type=int, default=8192,
                        help='points per cloud N of the exported graph '
                        '(default 8192)')
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset (default 17)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='make the batch dimension dynamic')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='batch of the traced example and of the check '
                        '(default 1)')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads of torch and onnxruntime during '
                        'the check (default: their own choice)')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='full unpickling of a trusted checkpoint')
    args = parser.parse_args(argv)
    for name in ('num_points', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be at least 1')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = init_model(args.config, args.checkpoint,
                           allow_unsafe=args.unsafe_load)
    except (CheckpointError, FileNotFoundError, KeyError) as exc:
        print(f'export_onnx: {exc}', file=sys.stderr)
        return 2
    pc1, pc2 = synthetic_scene(args.batch_size, args.num_points)
    try:
        model.check_inputs(pc1, pc2)
    except ValueError as exc:
        print(f'export_onnx: --num-points {args.num_points}: {exc}',
              file=sys.stderr)
        return 2
    info = export_onnx(model, args.out, (pc1, pc2), args.opset,
                       args.dynamic_batch)
    domains = custom_domains(args.out)
    print(f'wrote {args.out}: {info["size"] / 2**20:.2f} MiB, opset '
          f'{args.opset}, N={args.num_points}, batch '
          f'{"dynamic" if args.dynamic_batch else args.batch_size}; export '
          f'{info["export_s"]:.1f} s')
    if domains:
        print(f'export_onnx: the graph uses custom operator domains '
              f'{domains}; expected standard ONNX operators only',
              file=sys.stderr)
        return 1
    start = time.perf_counter()
    session = onnx_session(args.out, args.threads)
    session_s = time.perf_counter() - start
    start = time.perf_counter()
    got = onnx_flows(session, pc1, pc2)
    run_s = time.perf_counter() - start
    print(f'onnxruntime {ort_version()}: session created in {session_s:.1f} '
          f's, first run {run_s:.1f} s')
    print(f'onnxruntime vs bpfn on the seeded scene (B={args.batch_size}, '
          f'N={args.num_points}), {len(got)} flow levels, per-point relative '
          f'error (limits p99 {P99_TOLERANCE:g}, max {MAX_TOLERANCE:g}):')
    res = flow_errors(got, reference_flows(model, pc1, pc2, True))
    print(f'  bpfn export path (the graph\'s algorithms in PyTorch): p99 '
          f'{res["p99"]:.2e}, max {res["max"]:.2e} -> '
          f'{"PASS" if res["ok"] else "FAIL"}')
    flows, audit = audited_default_flows(model, pc1, pc2)
    default = flow_errors(got, flows)
    print(f'  bpfn default path: p99 {default["p99"]:.2e}, max '
          f'{default["max"]:.2e} -> '
          f'{"within" if default["ok"] else "OUTSIDE"} the tolerance')
    print(f'  default path against export path, same inputs: '
          f'{audit.summary()}')
    ties_only = default['ok'] or audit.exact
    if not default['ok']:
        print('  -> ' + ('the difference is exact-tie breaking only: both '
                         'are exact k nearest neighbours (ONNX TopK takes '
                         'the lower index of equal distances, torch.topk '
                         'its own order)' if audit.exact else
                         'FAIL: the paths differ beyond exact ties'))
    return 0 if res['ok'] and ties_only else 1


if __name__ == '__main__':
    sys.exit(main())
