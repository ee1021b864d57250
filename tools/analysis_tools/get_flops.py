"""FLOPs and parameters of bpfn models for one pair of clouds.

Usage::

    python tools/analysis_tools/get_flops.py configs/bpfn/bpfn_ft3d.py
    python tools/analysis_tools/get_flops.py --all [--points 8192]

Two conventions are printed (see :mod:`bpfn.analysis.flops`): ``FLOPs``, that
of the published BPF tables (the 2020 ``thop`` profiler: conv/linear
multiply-adds, conv bias, LeakyReLU and BatchNorm elements) and ``FLOPs (all
ops)``, the multiply-adds of every conv, linear, matmul and einsum as
MMEngine's analysis tools count them, with the neighbour search counted as
the original computes it (the ``M x N x 3`` multiply-adds of each kNN's full
distance matrix; the model is traced with the reference algorithms, so the
count is the same on every device and code path). Batch size 1, the
features are the coordinates.
"""
import argparse
import ast
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.registry import init_default_scope

from bpfn.registry import MODELS
from bpfn.analysis import FlopCount, count_flops
from bpfn.utils.model_config import student_config
from bpfn.utils.tool_utils import add_threads_arg, setup_threads

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Column title -> config, in the layout of the README's model-size table.
ALL_MODELS = {
    'Baseline': 'configs/bpfn/bpfn_ft3d.py',
    'Weightnet=8': 'configs/bpfn/bpfn-wn8_ft3d.py',
    'Weightnet=4': 'configs/bpfn/bpfn-wn4_ft3d.py',
    'Weightnet=48': 'configs/bpfn/bpfn-wn48_ft3d.py',
    'Half': 'configs/bpfn/bpfn-half_ft3d.py',
    'DecreasedLinear': 'configs/bpfn/bpfn-declinear_ft3d.py',
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the FLOPs and parameters of a bpfn model. '
        '"FLOPs": the published BPF convention (thop: conv/linear '
        'multiply-adds, conv bias, LeakyReLU, BatchNorm; no neighbour '
        'search). "FLOPs (all ops)": multiply-adds of every conv, linear, '
        'matmul and einsum, each kNN counted as the original computes it '
        '(M x N x 3 multiply-adds of its full distance matrix), the same on '
        'every device and code path.')
    parser.add_argument('config', nargs='?', help='model config file')
    parser.add_argument(
        '--points', type=int, default=8192,
        help='points per cloud (default: 8192)')
    parser.add_argument(
        '--all', action='store_true',
        help='print a markdown table of all configs/bpfn models')
    parser.add_argument(
        '--exact-fps', action='store_true',
        help='trace the real farthest point sampling (slower; the counts '
        'are the same)')
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    if not args.all and not args.config:
        parser.error('give a CONFIG or --all')
    return args


def _model_only_config(path: str) -> Config:
    """Load ``path`` keeping only the ``_base_`` files that exist.

    Model counting needs only ``model``; this lets the tool work on a config
    whose dataset or schedule base files are not available.
    """
    with open(path, encoding='utf-8') as f:
        source = f.read()
    tree = ast.parse(source)
    folder = osp.dirname(osp.abspath(path))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == '_base_'):
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else list(bases)
            kept = [
                osp.normpath(osp.join(folder, b)) for b in bases
                if osp.isfile(osp.join(folder, b))
            ]
            node.value = ast.parse(repr(kept), mode='eval').body
    fd, tmp = tempfile.mkstemp(suffix='.py', prefix='bpfn_model_cfg_')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(ast.unparse(tree))
        cfg = Config.fromfile(tmp)
    finally:
        os.remove(tmp)
    return cfg


def load_model_config(path: str) -> Config:
    """Load a config; fall back to its model part if a base file is missing.

    Args:
        path (str): Config file.

    Returns:
        Config: The config (at least its ``model`` field).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    try:
        return Config.fromfile(path)
    except (FileNotFoundError, OSError):
        return _model_only_config(path)


def count_config(path: str, points: int = 8192,
                 exact_fps: bool = False) -> FlopCount:
    """Build the model of a config and count it.

    Args:
        path (str): Config file.
        points (int): Points per cloud. Defaults to 8192.
        exact_fps (bool): Trace the real farthest point sampling.
            Defaults to False.

    Returns:
        FlopCount: See :func:`bpfn.analysis.count_flops`.
    """
    cfg = load_model_config(path)
    init_default_scope(cfg.get('default_scope', 'bpfn'))
    # A distiller's student (any distiller: meta-KD too), without building
    # the teacher or reading its checkpoint.
    model = MODELS.build(student_config(cfg.model))
    return count_flops(model, points, exact_fps=exact_fps)


def format_flops(value: float) -> str:
    """FLOPs in G with four significant digits: ``13.36G``, ``9.365G``."""
    return f'{value / 1e9:.4g}G'


def format_params(value: float) -> str:
    """Parameters in M with two decimals: ``7.96M``."""
    return f'{value / 1e6:.2f}M'


def markdown_table(results: Dict[str, FlopCount]) -> str:
    """The README's model-size table, one column per model.

    Args:
        results (dict[str, FlopCount]): Column title -> count.

    Returns:
        str: A markdown table with rows FLOPs, FLOPs (all ops) and Param.
    """
    names = list(results)
    lines: List[str] = [
        '| | ' + ' | '.join(names) + ' |',
        '|---|' + '---|' * len(names),
    ]
    rows = (('FLOPs', 'flops', format_flops),
            ('FLOPs (all ops)', 'flops_all', format_flops),
            ('Param', 'params', format_params))
    for title, key, fmt in rows:
        cells = [fmt(results[name][key]) for name in names]
        lines.append(f'| {title} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        threads, why = setup_threads(args.threads)
    except ValueError as exc:
        raise SystemExit(f'error: {exc}') from exc
    print(f'threads: {threads} ({why})', file=sys.stderr)
    if args.all:
        results = {}
        for name, rel_path in ALL_MODELS.items():
            start = time.perf_counter()
            results[name] = count_config(
                osp.join(REPO_ROOT, rel_path), args.points, args.exact_fps)
            print(f'{name}: counted in {time.perf_counter() - start:.1f} s',
                  file=sys.stderr)
        print(f'Input: 2 clouds of {args.points} points, batch size 1\n')
        print(markdown_table(results))
        return
    result = count_config(args.config, args.points, args.exact_fps)
    split = '=' * 40
    print(f'{split}\nConfig: {args.config}\n'
          f'Input: 2 clouds of {args.points} points, batch size 1\n'
          f'FLOPs (published convention): {format_flops(result.flops)}\n'
          f'FLOPs (all ops): {format_flops(result.flops_all)}\n'
          f'Params: {format_params(result.params)} ({result.params:,})\n'
          f'{split}')


if __name__ == '__main__':
    main()
