"""Plot training curves and compute training time from MMEngine JSON logs.

Usage::

    python tools/analysis_tools/analyze_logs.py plot_curve \
        work_dirs/a/20240101_000000/vis_data/scalars.json \
        work_dirs/b/20240102_000000/vis_data/scalars.json \
        --keys loss EPE3D --legend teacher student --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG...

A log is MMEngine's scalar log (``<work_dir>/<timestamp>/vis_data/
scalars.json`` or ``<timestamp>.json``): one JSON object per line. Training
lines hold ``step`` (or ``iter``), ``epoch``, ``loss``, ``lr``, ``time`` and
``data_time``; validation lines hold the metric keys and ``step`` (the
epoch in epoch-based training). A work directory may be given instead of a
file: its most recent ``scalars.json`` is used.
"""
import argparse
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

TRAIN_KEYS = ('loss', 'lr', 'time', 'data_time', 'memory', 'grad_norm')


def find_log(path: str) -> str:
    """A log file, or the latest ``scalars.json`` under a folder.

    Args:
        path (str): A JSON log or a work directory.

    Returns:
        str: Path of the JSON log.
    """
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'no such log file or folder: {path}')
    found = []
    for root, _, files in os.walk(path):
        found += [osp.join(root, f) for f in files if f == 'scalars.json']
    if not found:
        raise FileNotFoundError(f'no vis_data/scalars.json under {path}')
    return sorted(found)[-1]


def is_train_line(line: dict) -> bool:
    """Whether a log line is a training line (not a validation/test one)."""
    if 'mode' in line:
        return line['mode'] == 'train'
    return 'loss' in line or 'lr' in line


def load_log(path: str) -> Tuple[List[dict], List[dict]]:
    """Read a JSON scalar log.

    Args:
        path (str): The log file.

    Returns:
        tuple[list[dict], list[dict]]: Training lines and validation lines,
        in file order. Lines that are not JSON objects are skipped.
    """
    train, val = [], []
    with open(path, encoding='utf-8') as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if not isinstance(line, dict):
                continue
            (train if is_train_line(line) else val).append(line)
    return train, val


def _x_value(line: dict) -> Optional[float]:
    for key in ('step', 'iter', 'epoch'):
        if key in line:
            return float(line[key])
    return None


def curve(lines: Sequence[dict], key: str) -> Tuple[np.ndarray, np.ndarray]:
    """Points ``(x, y)`` of one key; x is the line's ``step``.

    Args:
        lines (Sequence[dict]): Log lines.
        key (str): The scalar to plot.

    Returns:
        tuple[ndarray, ndarray]: x and y values of the lines holding ``key``.
    """
    xs, ys = [], []
    for index, line in enumerate(lines):
        if key in line and isinstance(line[key], (int, float)):
            x = _x_value(line)
            xs.append(index + 1 if x is None else x)
            ys.append(float(line[key]))
    return np.asarray(xs), np.asarray(ys)


def plot_curve(logs: Sequence[str],
               keys: Sequence[str],
               out: Optional[str] = None,
               legend: Optional[Sequence[str]] = None,
               title: Optional[str] = None) -> 'object':
    """Plot ``keys`` of several runs, one subplot per key.

    Args:
        logs (Sequence[str]): Log files (or work directories).
        keys (Sequence[str]): Scalars to plot, e.g. ``['loss', 'EPE3D']``.
        out (str, optional): Image to write (written atomically). Defaults
            to None (the figure is only returned).
        legend (Sequence[str], optional): One name per log. Defaults to the
            log paths.
        title (str, optional): Figure title.

    Returns:
        matplotlib.figure.Figure: The figure.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if legend is not None and len(legend) != len(logs):
        raise ValueError(f'--legend needs one name per log: {len(logs)} '
                         f'logs, {len(legend)} names')
    names = list(legend) if legend else [str(p) for p in logs]
    runs = [load_log(find_log(p)) for p in logs]
    fig, axes = plt.subplots(
        len(keys), 1, figsize=(7, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        plotted = False
        for name, (train, val) in zip(names, runs):
            in_train = any(key in line for line in train)
            lines = train if in_train else val
            xs, ys = curve(lines, key)
            if xs.size == 0:
                continue
            marker = None if in_train else 'o'
            ax.plot(xs, ys, label=name, marker=marker, markersize=3)
            ax.set_xlabel('iter' if in_train else 'epoch')
            plotted = True
        if not plotted:
            raise KeyError(f'no log line holds the key {key!r}')
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if out:
        from bpfn.utils.fileio import atomic_open
        fmt = osp.splitext(out)[1].lstrip('.') or 'png'
        with atomic_open(out, 'wb') as f:
            fig.savefig(f, format=fmt, dpi=100)
    plt.close(fig)
    return fig


def train_time(lines: Sequence[dict]) -> Dict[str, float]:
    """Iteration time statistics of one run.

    Args:
        lines (Sequence[dict]): Training lines with ``time`` and ``epoch``.

    Returns:
        dict: ``slowest_epoch``, ``slowest_time``, ``fastest_epoch``,
        ``fastest_time`` (mean s/iter of an epoch), ``std`` (over epochs),
        ``mean`` (s/iter over all lines) and ``num_epochs``.
    """
    per_epoch: Dict[int, List[float]] = OrderedDict()
    for line in lines:
        if 'time' in line:
            per_epoch.setdefault(int(line.get('epoch', 0)),
                                 []).append(float(line['time']))
    if not per_epoch:
        raise ValueError('no training line holds a "time" value')
    epochs = list(per_epoch)
    means = np.array([np.mean(per_epoch[e]) for e in epochs])
    all_times = np.concatenate([per_epoch[e] for e in epochs])
    return dict(
        slowest_epoch=epochs[int(means.argmax())],
        slowest_time=float(means.max()),
        fastest_epoch=epochs[int(means.argmin())],
        fastest_time=float(means.min()),
        std=float(means.std()),
        mean=float(all_times.mean()),
        num_epochs=len(epochs))


def cal_train_time(logs: Sequence[str]) -> List[Dict[str, float]]:
    """Print and return :func:`train_time` of every log."""
    stats = []
    for path in logs:
        log = find_log(path)
        st = train_time(load_log(log)[0])
        stats.append(st)
        print(f'{"-" * 5}Analyze train time of {log}{"-" * 5}')
        print(f'slowest epoch {st["slowest_epoch"]}, average time is '
              f'{st["slowest_time"]:.4f} s/iter')
        print(f'fastest epoch {st["fastest_epoch"]}, average time is '
              f'{st["fastest_time"]:.4f} s/iter')
        print(f'time std over epochs is {st["std"]:.4f}')
        print(f'average iter time: {st["mean"]:.4f} s/iter')
        print()
    return stats


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyze MMEngine JSON logs')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot scalars of several runs')
    plot.add_argument('logs', nargs='+', help='JSON logs or work dirs')
    plot.add_argument(
        '--keys', nargs='+', default=['loss'], help='scalars to plot')
    plot.add_argument('--legend', nargs='+', help='one name per log')
    plot.add_argument('--title', help='figure title')
    plot.add_argument(
        '--out', default='curves.png', help='image to write')
    timing = sub.add_parser('cal_train_time', help='time per iteration')
    timing.add_argument('logs', nargs='+', help='JSON logs or work dirs')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.task == 'plot_curve':
        plot_curve(args.logs, args.keys, args.out, args.legend, args.title)
        print(f'Curves of {", ".join(args.keys)} written to {args.out}')
    else:
        cal_train_time(args.logs)


if __name__ == '__main__':
    main()
