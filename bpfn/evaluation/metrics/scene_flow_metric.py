"""Runner-facing scene flow metric."""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from bpfn.registry import METRICS
from ..functional import METRIC_NAMES, scene_flow_metrics

#: Column titles of the metric table: arrows say which way is better.
METRIC_TITLES = OrderedDict(
    EPE3D='EPE3D(↓)',
    ACC3DS='ACC3DS(↑)',
    ACC3DR='ACC3DR(↑)',
    Outliers3D='Outliers3D(↓)',
    EPE2D='EPE2D(↓)',
    ACC2D='ACC2D(↑)')


def format_metrics_table(
        results_per_dataset: Dict[str, Dict[str, float]]) -> str:
    """Render per-dataset metrics as a table.

    Args:
        results_per_dataset (dict[str, dict[str, float]]): Dataset name to
            its metrics (keys of :data:`METRIC_NAMES`; missing ones are
            shown as ``-``), in row order.

    Returns:
        str: A terminaltables ``AsciiTable`` with the header
        ``Dataset | EPE3D(↓) | ACC3DS(↑) | ACC3DR(↑) | Outliers3D(↓) |
        EPE2D(↓) | ACC2D(↑)`` and one row per dataset, 4 decimals.
    """
    rows = [['Dataset', *METRIC_TITLES.values()]]
    for name, metrics in results_per_dataset.items():
        row = [str(name)]
        for key in METRIC_TITLES:
            value = metrics.get(key)
            row.append('-' if value is None else f'{float(value):.4f}')
        rows.append(row)
    return AsciiTable(rows).table


@METRICS.register_module()
class SceneFlowMetric(BaseMetric):
    """EPE3D, ACC3DS, ACC3DR, Outliers3D, EPE2D and ACC2D per dataset.

    ``process`` computes the metrics of every sample (averaged over its
    points, see :func:`bpfn.evaluation.functional.scene_flow_metrics`);
    ``compute_metrics`` averages them over the samples of each dataset (the
    samples' ``dataset`` field). Each sample is counted once: results are
    keyed by ``(dataset, sample_idx)``, so duplicates added by a padding
    distributed sampler are dropped (an entry is identified by ``dataset``,
    ``sample_idx`` and ``sample_name``), and samples are sorted by index
    before averaging, so the numbers do not depend on the number of ranks.

    Returned keys: ``EPE3D``, ``ACC3DS``, ... of the first dataset in order
    of appearance (for ``CheckpointHook(save_best='EPE3D', rule='less')``),
    and, when several datasets were evaluated, ``<dataset>/EPE3D`` etc. for
    each of them. A table of all datasets is logged.

    Each output data sample must hold ``pred_flow`` ``(N, 3)``, ``pc1``
    ``(N, 3)``, ``gt_flow`` ``(N, 3)`` (tensors on any device or arrays),
    ``sample_idx``, ``dataset`` and ``camera``.

    Args:
        collect_device (str): Device to gather results across ranks.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the returned keys. Defaults to no
            prefix.
        collect_dir (str, optional): Folder to gather results on CPU.
            Defaults to None.
    """

    default_prefix: Optional[str] = ''

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Compute the metrics of each sample of a batch.

        Args:
            data_batch (Any): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs, one dict per
                sample.
        """
        for sample in data_samples:
            for key in ('pred_flow', 'pc1', 'gt_flow'):
                if key not in sample:
                    raise KeyError(
                        f'SceneFlowMetric: output sample has no {key!r} '
                        f'(keys: {sorted(sample)})')
            metrics = scene_flow_metrics(
                sample['pc1'],
                sample['pred_flow'],
                sample['gt_flow'],
                camera=sample.get('camera', 'ft3d'))
            self.results.append(
                dict(
                    dataset=str(sample.get('dataset', 'default')),
                    sample_idx=int(sample.get('sample_idx', -1)),
                    sample_name=str(sample.get('sample_name', '')),
                    metrics=metrics))

    @staticmethod
    def average_per_dataset(
            results: List[dict]) -> 'OrderedDict[str, Dict[str, float]]':
        """Average per-sample results per dataset, counting each sample once.

        Args:
            results (list[dict]): Entries made by :meth:`process`.

        Returns:
            OrderedDict[str, dict[str, float]]: Dataset name (in order of
            first appearance) to its averaged metrics and ``num_samples``.
        """
        grouped: 'OrderedDict[str, Dict[tuple, dict]]' = OrderedDict()
        for res in results:
            per_dataset = grouped.setdefault(res['dataset'], {})
            key = (res['sample_idx'], res.get('sample_name', ''))
            if res['sample_idx'] < 0:  # no index: keep every entry
                key = (-1 - len(per_dataset), '')
            per_dataset.setdefault(key, res['metrics'])
        averaged: 'OrderedDict[str, Dict[str, float]]' = OrderedDict()
        for name, samples in grouped.items():
            ordered = [samples[k] for k in sorted(samples)]
            averaged[name] = {
                key:
                float(
                    np.mean(
                        np.array([m[key] for m in ordered], dtype=np.float64)))
                for key in METRIC_NAMES
            }
            averaged[name]['num_samples'] = len(ordered)
        return averaged

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Average the collected results and log the table.

        Args:
            results (list): Entries made by :meth:`process`, from all ranks.

        Returns:
            dict[str, float]: Flat metrics of the first dataset and, with
            several datasets, ``<dataset>/<metric>`` for each one.
        """
        averaged = self.average_per_dataset(results)
        if not averaged:
            return {}
        table = format_metrics_table(averaged)
        counts = ', '.join(f'{name}: {m["num_samples"]} samples'
                           for name, m in averaged.items())
        print_log(
            f'Scene flow results ({counts}):\n{table}',
            logger=MMLogger.get_current_instance())
        first = next(iter(averaged.values()))
        metrics = {key: first[key] for key in METRIC_NAMES}
        if len(averaged) > 1:
            for name, values in averaged.items():
                for key in METRIC_NAMES:
                    metrics[f'{name}/{key}'] = values[key]
        return metrics
