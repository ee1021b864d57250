"""Collect test results of several experiments into one markdown report.

Usage::

    python tools/analysis_tools/summarize_results.py \
        work_dirs/teacher.json work_dirs/wn4_scratch.json \
        [--experiment teacher "WN4 scratch"] [--out report.md]

Every argument is a results file or a folder searched recursively for them.

Results file schema (what ``tools/test.py --out results.json`` writes)::

    {
      "config": "configs/bpfn/bpfn_ft3d.py",       # str, required
      "checkpoint": "work_dirs/bpfn_ft3d/best.pth", # str, required
      "metrics": {                                  # required
        "<dataset>": {                              # e.g. "FT3D", "KITTI"
          "EPE3D": 0.028, "ACC3DS": 0.918, "ACC3DR": 0.978,
          "Outliers3D": 0.143, "EPE2D": 1.582, "ACC2D": 0.929,
          ...                                       # any other metric
        },
        ...
      },
      "zero_flow": {"<dataset>": {"EPE3D": 0.85}},  # optional
      "experiment": "Baseline",                     # str, optional
      ...                                           # other keys ignored
    }

Metric values are numbers or ``null`` (shown as ``-``, as is a metric a
dataset lacks); every metric of the files gets a column: EPE3D, ACC3DS,
ACC3DR, Outliers3D, EPE2D, ACC2D first, then the others (e.g. Threeway EPE)
in order of first appearance. Lower is better, except for metrics whose
name starts with ``ACC``. Datasets keep their order in the file.

An experiment is named by ``--experiment`` (one name per results file, in
the order they are found), else by the file's ``experiment`` field, else by
its config file name without ``.py``. Experiments left with the same name
(two runs of one config) are told apart by their checkpoint's folder (the
work dir), else the results file's name, else its folder: ``bpfn_synthetic``
and ``bpfn_synthetic (wn4_scratch)``. JSON files in a folder that do not
follow the schema (such as MMEngine's ``scalars.json``) are skipped.

The report has one section per experiment (config, checkpoint, metric table
with one row per dataset, zero-flow EPE3D) and a comparison table of all
experiments, one block of rows per dataset, with the best value of each
column in bold. When the files hold the zero-flow baseline (EPE3D of
predicting no motion, which ``tools/test.py`` stores), each block starts
with a ``zero flow`` row and the table gets an ``EPE3D / zero flow`` column.
"""
import argparse
import json
import numbers
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

#: (metric key, column title, higher is better) of the standard metrics, in
#: column order.
COLUMNS: Tuple[Tuple[str, str, bool], ...] = (
    ('EPE3D', 'EPE3D(↓)', False),
    ('ACC3DS', 'ACC3DS(↑)', True),
    ('ACC3DR', 'ACC3DR(↑)', True),
    ('Outliers3D', 'Outliers3D(↓)', False),
    ('EPE2D', 'EPE2D(↓)', False),
    ('ACC2D', 'ACC2D(↑)', True),
)
#: Per-dataset entries of a results file that are not metrics.
NOT_METRICS = ('num_samples', )
#: Key of the EPE3D / zero-flow ratio column.
RATIO_KEY = 'EPE3D / zero flow'
ZERO_FLOW_NAME = 'zero flow'
DECIMALS = 4

Column = Tuple[str, str, bool]


class ResultsFormatError(ValueError):
    """A results file does not follow the schema of this module."""


def _metric_dict(values: dict, path: str, field: str) -> Dict[str, float]:
    """Metric name -> float of one dataset; ``null`` values are left out."""
    clean = OrderedDict()
    for key, value in values.items():
        if key in NOT_METRICS or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ResultsFormatError(
                f'{path}: {field}.{key} must be a number, got {value!r}')
        clean[str(key)] = float(value)
    return clean


def load_results(path: str) -> dict:
    """Read and check one results file.

    Args:
        path (str): A JSON file of ``tools/test.py --out``.

    Returns:
        dict: ``name``, ``config``, ``checkpoint``, ``metrics`` (ordered
        dataset -> metric -> float, every metric of the file), ``zero_flow``
        (dataset -> zero-flow EPE3D, empty when the file has none) and
        ``path``.

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
    clean = OrderedDict(
        (str(ds), _metric_dict(values, path, f'metrics.{ds}'))
        for ds, values in metrics.items())
    zero = data.get('zero_flow') or {}
    if not isinstance(zero, dict) or not all(
            isinstance(v, dict) for v in zero.values()):
        raise ResultsFormatError(
            f'{path}: "zero_flow" must map dataset names to '
            '{"EPE3D": value}')
    zero_flow = OrderedDict()
    for ds, values in zero.items():
        epe = _metric_dict(values, path, f'zero_flow.{ds}').get('EPE3D')
        if epe is not None:
            zero_flow[str(ds)] = epe
    config = str(data['config'])
    name = data.get('experiment') or osp.splitext(osp.basename(config))[0]
    return dict(name=str(name), config=config,
                checkpoint=str(data['checkpoint']), metrics=clean,
                zero_flow=zero_flow, path=path)


def _distinguishers(res: dict) -> List[str]:
    """What can tell two runs apart, most telling first."""
    return [
        osp.basename(osp.dirname(osp.normpath(res['checkpoint']))),
        osp.splitext(osp.basename(res['path']))[0],
        osp.basename(osp.dirname(osp.abspath(res['path']))),
    ]


def unique_names(results: Sequence[dict]) -> None:
    """Tell apart experiments of the same name, in place.

    Each group of results sharing a name takes the first of their
    checkpoint's folder, results file name and results file folder that
    differs between all of them: ``name (that)``, or just ``name`` where
    ``that`` equals the name. A group that none tells apart gets ``#2``,
    ``#3`` ... suffixes.

    Args:
        results (Sequence[dict]): As :func:`load_results`.
    """
    groups: Dict[str, List[dict]] = OrderedDict()
    for res in results:
        groups.setdefault(res['name'], []).append(res)
    for name, group in groups.items():
        if len(group) < 2:
            continue
        for i in range(3):
            keys = [_distinguishers(res)[i] for res in group]
            if all(keys) and len(set(keys)) == len(keys):
                for res, key in zip(group, keys):
                    res['name'] = name if key == name else f'{name} ({key})'
                break
        else:
            for n, res in enumerate(group[1:], start=2):
                res['name'] = f'{name} #{n}'


def collect(paths: Sequence[str],
            names: Optional[Sequence[str]] = None) -> List[dict]:
    """Load results files and the results files found under folders.

    Args:
        paths (Sequence[str]): Files or folders.
        names (Sequence[str], optional): Experiment names, one per results
            file found, in order; they replace the files' own.

    Returns:
        list[dict]: As :func:`load_results`, in argument order (files of a
        folder sorted by path), with names made unique by
        :func:`unique_names`.

    Raises:
        ValueError: If ``names`` does not give one name per file found.
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
    if names:
        if len(names) != len(results):
            raise ValueError(
                f'--experiment gives {len(names)} name(s) for '
                f'{len(results)} results file(s): ' +
                ', '.join(res['path'] for res in results))
        for res, name in zip(results, names):
            res['name'] = str(name)
    unique_names(results)
    return results


def metric_columns(results: Sequence[dict]) -> List[Column]:
    """Columns of every metric of the results, the standard six first.

    Args:
        results (Sequence[dict]): As :func:`collect`.

    Returns:
        list[tuple[str, str, bool]]: (key, title, higher is better); other
        metrics in order of first appearance, higher better when their name
        starts with ``ACC``.
    """
    present = []
    for res in results:
        for values in res['metrics'].values():
            present += [k for k in values if k not in present]
    columns = [c for c in COLUMNS if c[0] in present]
    known = {c[0] for c in COLUMNS}
    for key in present:
        if key not in known:
            higher = key.upper().startswith('ACC')
            columns.append((key, f'{key}({"↑" if higher else "↓"})', higher))
    return columns


def _fmt(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.{DECIMALS}f}'


def _header(first: Sequence[str], columns: Sequence[Column]) -> List[str]:
    titles = [*first, *(title for _, title, _ in columns)]
    return ['| ' + ' | '.join(titles) + ' |', '|' + '---|' * len(titles)]


def experiment_table(metrics: Dict[str, Dict[str, float]],
                     columns: Optional[Sequence[Column]] = None) -> str:
    """Markdown table of one experiment, one row per dataset.

    Args:
        metrics (dict): Dataset -> metric -> value.
        columns (Sequence[tuple], optional): From :func:`metric_columns`;
            defaults to the metrics of ``metrics``.

    Returns:
        str: ``| Dataset | EPE3D(↓) | ... | ACC2D(↑) | ... |`` and its rows.
    """
    if columns is None:
        columns = metric_columns([dict(metrics=metrics)])
    lines = _header(['Dataset'], columns)
    for dataset, values in metrics.items():
        cells = [_fmt(values.get(key)) for key, _, _ in columns]
        lines.append(f'| {dataset} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _zero_flow_rows(results: Sequence[dict],
                    dataset: str) -> List[Tuple[str, Dict[str, float]]]:
    """The zero-flow row(s) of a dataset: one per distinct value."""
    values: Dict[float, List[str]] = OrderedDict()
    for res in results:
        if dataset in res['zero_flow']:
            value = round(res['zero_flow'][dataset], DECIMALS)
            values.setdefault(value, []).append(res['name'])
    if len(values) == 1:
        return [(ZERO_FLOW_NAME, dict(EPE3D=next(iter(values))))]
    # Different test sets under one dataset name: say whose each one is.
    return [(f'{ZERO_FLOW_NAME} ({", ".join(names)})', dict(EPE3D=value))
            for value, names in values.items()]


def comparison_table(results: Sequence[dict]) -> str:
    """Markdown table of all experiments, the best value per column bold.

    Rows are grouped by dataset (in order of first appearance), each group
    led by its zero-flow row when the results hold one; the best value is
    chosen among the experiments of each dataset (not the zero-flow row),
    ties all bold. Values are compared as printed (rounded to 4 decimals).

    Args:
        results (Sequence[dict]): As :func:`collect`.

    Returns:
        str: ``| Dataset | Experiment | EPE3D(↓) | ... |`` and its rows.
    """
    columns = metric_columns(results)
    with_zero = any(res['zero_flow'] for res in results)
    if with_zero:
        columns.append((RATIO_KEY, RATIO_KEY, False))
    datasets: List[str] = []
    for res in results:
        datasets += [d for d in res['metrics'] if d not in datasets]
    lines = _header(['Dataset', 'Experiment'], columns)
    for dataset in datasets:
        rows = []
        for res in results:
            if dataset not in res['metrics']:
                continue
            values = dict(res['metrics'][dataset])
            zero = res['zero_flow'].get(dataset)
            if zero and 'EPE3D' in values:
                values[RATIO_KEY] = values['EPE3D'] / zero
            rows.append((res['name'], values))
        best = {}
        for key, _, higher in columns:
            values = [round(v[key], DECIMALS) for _, v in rows if key in v]
            if values:
                best[key] = max(values) if higher else min(values)
        for name, values in _zero_flow_rows(results, dataset):
            cells = [_fmt(values.get(key)) for key, _, _ in columns]
            lines.append(f'| {dataset} | {name} | ' + ' | '.join(cells) +
                         ' |')
        for name, values in rows:
            cells = []
            for key, _, _ in columns:
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
    columns = metric_columns(results)
    parts = ['# Scene flow results', '']
    for res in results:
        parts += [
            f"## {res['name']}", '',
            f"- Config: `{res['config']}`",
            f"- Checkpoint: `{res['checkpoint']}`",
        ]
        if res['zero_flow']:
            parts.append('- Zero-flow EPE3D: ' + ', '.join(
                f'{ds} {_fmt(v)}' for ds, v in res['zero_flow'].items()))
        parts += ['', experiment_table(res['metrics'], columns), '']
    higher = [key for key, _, up in columns if up]
    lower = [key for key, _, up in columns if not up]
    rule = (f'lower is better for {", ".join(lower) or "none"}, higher for '
            f'{", ".join(higher) or "none"}')
    if any(res['zero_flow'] for res in results):
        rule += ('; the zero-flow row is the EPE3D of predicting no motion '
                 'and competes for no column')
    parts += [
        '## Comparison', '',
        f'Best value per dataset and column in bold ({rule}).', '',
        comparison_table(results), ''
    ]
    return '\n'.join(parts)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Summarize tools/test.py --out results as markdown')
    parser.add_argument(
        'results', nargs='+',
        help='results JSON files or folders searched recursively')
    parser.add_argument(
        '--experiment', nargs='+', metavar='NAME',
        help='experiment names, one per results file in the order found '
        '(default: the files\' "experiment" field or config name)')
    parser.add_argument(
        '--out', help='markdown file to write (default: print it)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        results = collect(args.results, args.experiment)
    except (ResultsFormatError, FileNotFoundError, ValueError) as exc:
        raise SystemExit(f'error: {exc}') from exc
    if not results:
        raise SystemExit('no results files found in: ' +
                         ', '.join(args.results))
    report = build_report(results)
    if args.out:
        from bpfn.utils.fileio import atomic_write_text
        atomic_write_text(report, args.out)
        print(f'Report of {len(results)} experiment(s) written to {args.out}')
    else:
        print(report)


if __name__ == '__main__':
    main()
