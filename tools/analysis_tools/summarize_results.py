"""Collect test results of several experiments into one markdown report.

Usage::

    python tools/analysis_tools/summarize_results.py \
        work_dirs/bpfn_ft3d/results.json work_dirs/bpfn-wn4_ft3d \
        --out report.md

Every argument is a results file or a folder searched recursively for them.

Results file schema (what ``tools/test.py --out results.json`` writes)::

    {
      "config": "configs/bpfn/bpfn_ft3d.py",       # str, required
      "checkpoint": "work_dirs/bpfn_ft3d/best.pth", # str, required
      "metrics": {                                  # required
        "<dataset>": {                              # e.g. "FT3D", "KITTI"
          "EPE3D": 0.028, "ACC3DS": 0.918, "ACC3DR": 0.978,
          "Outliers3D": 0.143, "EPE2D": 1.582, "ACC2D": 0.929
        },
        ...
      },
      "experiment": "Baseline",                     # str, optional
      ...                                           # other keys ignored
    }

Metric values are floats (a missing metric is shown as ``-``); datasets keep
their order in the file. The experiment is named by ``experiment`` when
given, otherwise by the config file name without ``.py``. JSON files in a
folder that do not follow the schema (such as MMEngine's ``scalars.json``)
are skipped.

The report has one section per experiment (config, checkpoint, metric table
with one row per dataset) and a comparison table of all experiments, one
block of rows per dataset, with the best value of each column in bold: lower
is better for EPE3D, Outliers3D and EPE2D, higher for the ACC metrics.
"""
import argparse
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

#: (metric key, column title, higher is better)
COLUMNS: Tuple[Tuple[str, str, bool], ...] = (
    ('EPE3D', 'EPE3D(↓)', False),
    ('ACC3DS', 'ACC3DS(↑)', True),
    ('ACC3DR', 'ACC3DR(↑)', True),
    ('Outliers3D', 'Outliers3D(↓)', False),
    ('EPE2D', 'EPE2D(↓)', False),
    ('ACC2D', 'ACC2D(↑)', True),
)
DECIMALS = 4


class ResultsFormatError(ValueError):
    """A results file does not follow the schema of this module."""


def load_results(path: str) -> dict:
    """Read and check one results file.

    Args:
        path (str): A JSON file of ``tools/test.py --out``.

    Returns:
        dict: ``name``, ``config``, ``checkpoint``, ``metrics`` (ordered
        dataset -> metric -> float) and ``path``.

    Raises:
        ResultsFormatError: If the file is not JSON or misses a field.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f, object_pairs_hook=OrderedDict)
    except json.JSONDecodeError as exc:
        raise ResultsFormatError(f'{path}: not a JSON file ({exc})') from exc
    if not isinstance(data, dict):
        raise ResultsFormatError(f'{path}: expected a JSON object')
    for key in ('config', 'checkpoint', 'metrics'):
        if key not in data:
            raise ResultsFormatError(f'{path}: missing the "{key}" field')
    metrics = data['metrics']
    if not isinstance(metrics, dict) or not all(
            isinstance(v, dict) for v in metrics.values()):
        raise ResultsFormatError(
            f'{path}: "metrics" must map dataset names to metric dicts')
    clean = OrderedDict()
    for dataset, values in metrics.items():
        clean[str(dataset)] = {
            key: float(values[key])
            for key, _, _ in COLUMNS if values.get(key) is not None
        }
    config = str(data['config'])
    name = data.get('experiment') or osp.splitext(osp.basename(config))[0]
    return dict(name=str(name), config=config,
                checkpoint=str(data['checkpoint']), metrics=clean, path=path)


def collect(paths: Sequence[str]) -> List[dict]:
    """Load results files and the results files found under folders.

    Args:
        paths (Sequence[str]): Files or folders.

    Returns:
        list[dict]: As :func:`load_results`, in argument order (files of a
        folder sorted by path); duplicate experiment names get a ``#2``,
        ``#3`` ... suffix.
    """
    results = []
    for path in paths:
        if osp.isdir(path):
            found = []
            for root, _, files in os.walk(path):
                found += [osp.join(root, f) for f in files
                          if f.endswith('.json')]
            for file in sorted(found):
                try:
                    results.append(load_results(file))
                except (ResultsFormatError, OSError):
                    continue
        elif osp.isfile(path):
            results.append(load_results(path))
        else:
            raise FileNotFoundError(f'no such results file or folder: {path}')
    seen: Dict[str, int] = {}
    for res in results:
        seen[res['name']] = seen.get(res['name'], 0) + 1
        if seen[res['name']] > 1:
            res['name'] = f"{res['name']} #{seen[res['name']]}"
    return results


def _fmt(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.{DECIMALS}f}'


def _header(first: Sequence[str]) -> List[str]:
    titles = [*first, *(title for _, title, _ in COLUMNS)]
    return ['| ' + ' | '.join(titles) + ' |', '|' + '---|' * len(titles)]


def experiment_table(metrics: Dict[str, Dict[str, float]]) -> str:
    """Markdown table of one experiment, one row per dataset.

    Args:
        metrics (dict): Dataset -> metric -> value.

    Returns:
        str: ``| Dataset | EPE3D(↓) | ... | ACC2D(↑) |`` and its rows.
    """
    lines = _header(['Dataset'])
    for dataset, values in metrics.items():
        cells = [_fmt(values.get(key)) for key, _, _ in COLUMNS]
        lines.append(f'| {dataset} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def comparison_table(results: Sequence[dict]) -> str:
    """Markdown table of all experiments, the best value per column bold.

    Rows are grouped by dataset (in order of first appearance); the best
    value is chosen within each dataset, ties all bold. Values are compared
    as printed (rounded to 4 decimals).

    Args:
        results (Sequence[dict]): As :func:`collect`.

    Returns:
        str: ``| Dataset | Experiment | EPE3D(↓) | ... |`` and its rows.
    """
    datasets: List[str] = []
    for res in results:
        datasets += [d for d in res['metrics'] if d not in datasets]
    lines = _header(['Dataset', 'Experiment'])
    for dataset in datasets:
        rows = [(res['name'], res['metrics'][dataset]) for res in results
                if dataset in res['metrics']]
        best = {}
        for key, _, higher in COLUMNS:
            values = [round(v[key], DECIMALS) for _, v in rows if key in v]
            if values:
                best[key] = max(values) if higher else min(values)
        for name, values in rows:
            cells = []
            for key, _, _ in COLUMNS:
                text = _fmt(values.get(key))
                if key in values and round(values[key],
                                           DECIMALS) == best[key]:
                    text = f'**{text}**'
                cells.append(text)
            lines.append(f'| {dataset} | {name} | ' + ' | '.join(cells) +
                         ' |')
    return '\n'.join(lines)


def build_report(results: Sequence[dict]) -> str:
    """The whole markdown report.

    Args:
        results (Sequence[dict]): As :func:`collect`.

    Returns:
        str: Markdown text ending with a newline.
    """
    parts = ['# Scene flow results', '']
    for res in results:
        parts += [
            f"## {res['name']}", '',
            f"- Config: `{res['config']}`",
            f"- Checkpoint: `{res['checkpoint']}`", '',
            experiment_table(res['metrics']), ''
        ]
    parts += [
        '## Comparison', '',
        'Best value per dataset and column in bold (lower is better for '
        'EPE3D, Outliers3D and EPE2D, higher for the ACC metrics).', '',
        comparison_table(results), ''
    ]
    return '\n'.join(parts)


def write_text_atomic(text: str, path: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename."""
    from bpfn.utils.fileio import atomic_open
    with atomic_open(path, 'w') as f:
        f.write(text)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Summarize tools/test.py --out results as markdown')
    parser.add_argument(
        'results', nargs='+',
        help='results JSON files or folders searched recursively')
    parser.add_argument(
        '--out', help='markdown file to write (default: print it)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    results = collect(args.results)
    if not results:
        raise SystemExit('no results files found in: ' +
                         ', '.join(args.results))
    report = build_report(results)
    if args.out:
        write_text_atomic(report, args.out)
        print(f'Report of {len(results)} experiment(s) written to {args.out}')
    else:
        print(report)


if __name__ == '__main__':
    main()
