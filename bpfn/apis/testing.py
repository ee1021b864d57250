"""Testing a checkpoint the way ``tools/test.py`` does, and its results.

The results of :func:`test_checkpoint` (and of ``tools/test.py --out``) are
one JSON object::

    {"config": str, "checkpoint": str,
     "metrics": {dataset: {"EPE3D": float, "ACC3DS": float, ...}},
     "zero_flow": {dataset: {"EPE3D": float}},
     "experiment": str}

``metrics`` holds the keys of :data:`bpfn.evaluation.METRIC_TITLES` that
the dataset has (the Threeway keys only for labelled data), ``zero_flow``
the EPE3D of predicting no motion on the same samples; a value that is not
finite is ``null`` (only with ``allow_nonfinite``).
"""
import math
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.logging import print_log

from bpfn.engine import build_runner
from bpfn.engine.hooks.non_finite_prediction_hook import NON_FINITE_KEY
from bpfn.evaluation import (METRIC_TITLES, ZERO_FLOW_KEY,
                             format_metrics_table, format_zero_flow_lines)
from bpfn.utils.checkpoint import save_best_keys, select_checkpoint
from bpfn.utils.fileio import atomic_write_json
from bpfn.utils.tool_utils import add_custom_hook, config_name

__all__ = [
    'NonFiniteResultError', 'non_finite_results', 'per_dataset',
    'test_checkpoint'
]


def per_dataset(metrics: Dict[str, float]
                ) -> Tuple[Dict[str, Dict[str, float]], Dict[str, float]]:
    """Metrics and zero-flow baselines per dataset, from the evaluator's
    ``<dataset>/<metric>`` keys (:class:`~bpfn.evaluation.SceneFlowMetric`).

    Args:
        metrics (dict): The evaluator's results (the flat ``EPE3D`` of the
            first dataset, for ``save_best``, is not needed here).

    Returns:
        tuple[dict, dict]: Dataset to its metrics (the keys of
        :data:`~bpfn.evaluation.METRIC_TITLES` it has, in that order), and
        dataset to its zero-flow EPE3D; datasets in evaluation order.
    """
    values: Dict[str, Dict[str, float]] = {}
    for key, value in metrics.items():
        dataset, sep, name = key.rpartition('/')
        if sep:
            values.setdefault(dataset, {})[name] = value
    scores = {ds: {k: float(v[k]) for k in METRIC_TITLES
                   if v.get(k) is not None}
              for ds, v in values.items()}
    zero = {ds: float(v[ZERO_FLOW_KEY]) for ds, v in values.items()
            if ZERO_FLOW_KEY in v}
    return scores, zero


class NonFiniteResultError(ValueError):
    """A test produced NaN or infinite predictions or metrics."""


def non_finite_results(result: dict, predictions: Dict[str, dict]
                       ) -> List[str]:
    """Describe the NaN / inf values of a test result, one line each.

    Args:
        result (dict): The result of :func:`test_checkpoint` (``metrics``
            and ``zero_flow`` per dataset).
        predictions (dict): Per dataset, ``count`` / ``total`` / ``samples``
            of the samples with non-finite predicted flow
            (:class:`bpfn.engine.hooks.NonFinitePredictionHook`).

    Returns:
        list[str]: E.g. ``'Synthetic: EPE3D is nan'`` and
        ``'Synthetic: 4 of 4 samples have non-finite predicted flow (first:
        a, b)'``; empty if everything is finite.
    """
    problems = []
    for dataset, entry in predictions.items():
        if entry.get('count'):
            problems.append(
                f'{dataset}: {entry["count"]} of {entry["total"]} samples '
                'have non-finite predicted flow (first: '
                f'{", ".join(entry["samples"])})')
    for section, suffix in (('metrics', ''), ('zero_flow', ' (zero-flow)')):
        for dataset, values in result[section].items():
            for key, value in values.items():
                if value is not None and not math.isfinite(value):
                    problems.append(f'{dataset}: {key}{suffix} is {value}')
    return problems


def _nulls(result: dict, predictions: Dict[str, dict]) -> dict:
    """``result`` with every NaN / inf metric replaced by None, and every
    metric of a dataset with non-finite predictions (an accuracy over NaN
    predictions means nothing)."""
    out = dict(result)
    broken = {ds for ds, entry in predictions.items() if entry.get('count')}
    for section in ('metrics', 'zero_flow'):
        out[section] = {
            ds: {k: v if v is None or (math.isfinite(v) and (
                section == 'zero_flow' or ds not in broken)) else None
                 for k, v in values.items()}
            for ds, values in result[section].items()}
    return out


def test_checkpoint(cfg: Config, checkpoint: str, name: str,
                    out: Optional[str] = None,
                    experiment: Optional[str] = None,
                    allow_nonfinite: bool = False) -> dict:
    """Test a checkpoint, print the tables and optionally save JSON.

    Predictions and metrics are checked: NaN or infinite values raise
    :class:`NonFiniteResultError` naming each dataset and metric (after
    the table is printed, before anything is written) unless
    ``allow_nonfinite``, which writes them as ``null`` (all metrics of a
    dataset with non-finite predictions). The JSON file is strict JSON (no
    ``NaN`` / ``Infinity``).

    Args:
        cfg (Config): Config from
            :func:`bpfn.utils.tool_utils.load_config`.
        checkpoint (str): Checkpoint file or work dir (its best checkpoint,
            else its newest: :func:`bpfn.utils.select_checkpoint`).
        name (str): Config file stored in the JSON.
        out (str, optional): JSON output path (written atomically).
        experiment (str, optional): Experiment name stored in the JSON.
            Defaults to None (the config file name without ``.py``).
        allow_nonfinite (bool): Keep going on non-finite results (with a
            warning), writing them as ``null``. Defaults to False.

    Returns:
        dict: The results, in the schema of the JSON file::

            {"config": str, "checkpoint": str,
             "metrics": {dataset: {"EPE3D": float, "ACC3DS": float,
                                   "ACC3DR": float, "Outliers3D": float,
                                   "EPE2D": float, "ACC2D": float}},
             "zero_flow": {dataset: {"EPE3D": float}},
             "experiment": str}

        With ``allow_nonfinite`` a non-finite value is None (``null``).

    Raises:
        NonFiniteResultError: On non-finite predictions or metrics, unless
            ``allow_nonfinite``.
    """
    def warn(msg: str) -> None:
        print_log(msg, logger='current', level=30)

    path, why = select_checkpoint(checkpoint, warn, save_best_keys(cfg))
    print_log(f'testing {path}: {why}', logger='current')
    cfg.load_from = path
    cfg.resume = False
    add_custom_hook(cfg, dict(type='NonFinitePredictionHook'))
    runner = build_runner(cfg)
    console = getattr(runner, 'console_filter', None)
    if console is not None:
        # The table is printed once below, with the checkpoint and the
        # zero-flow baseline; the metric's own table goes to the log file.
        console.hide('Scene flow results')
    # Per dataset: the metrics and the zero-flow baseline, both computed
    # per sample by the metric (each sample once, across ranks).
    scores, baselines = per_dataset(dict(runner.test()))
    predictions = dict(runner.message_hub.get_info(NON_FINITE_KEY) or {})
    result = dict(
        config=name,
        checkpoint=path,
        metrics=scores,
        zero_flow={ds: dict(EPE3D=value) for ds, value in baselines.items()},
        experiment=experiment or config_name(name))
    problems = non_finite_results(result, predictions)
    if is_main_process():
        counts = ', '.join(f'{ds}: {entry["total"]} samples'
                           for ds, entry in predictions.items())
        lines = ['', f'Checkpoint: {path}'
                 + ('' if why == 'checkpoint file given' else f'\n  {why}'),
                 f'Scene flow results ({counts}):' if counts else
                 'Scene flow results:',
                 format_metrics_table(result['metrics']),
                 *format_zero_flow_lines(result['metrics'], baselines)]
        print('\n'.join(lines), flush=True)
    if problems:
        listing = '; '.join(problems)
        if not allow_nonfinite:
            raise NonFiniteResultError(
                f'non-finite results of {path}: {listing}. Nothing was '
                'written. Check the checkpoint (NaN/inf weights?) and the '
                'data; --allow-nonfinite keeps going and writes them as null')
        warn(f'non-finite results of {path} (written as null): {listing}')
        result = _nulls(result, predictions)
    if is_main_process() and out:
        atomic_write_json(result, out)
        print(f'metrics written to {out}', flush=True)
    return result


# Not a test of pytest's, though named like one.
test_checkpoint.__test__ = False
