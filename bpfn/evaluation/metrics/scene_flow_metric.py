"""Runner-facing scene flow metric."""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from bpfn.registry import METRICS
from ..functional import (DYNAMIC_SPEED, METRIC_NAMES, THREEWAY_CLASSES,
                          THREEWAY_NAMES, scene_flow_metrics,
                          threeway_epe_from_sums, threeway_epe_sums)

#: Column titles of the metric table: arrows say which way is better. The
#: Threeway columns are shown when at least one dataset has them.
METRIC_TITLES = OrderedDict(
    EPE3D='EPE3D(↓)',
    ACC3DS='ACC3DS(↑)',
    ACC3DR='ACC3DR(↑)',
    Outliers3D='Outliers3D(↓)',
    EPE2D='EPE2D(↓)',
    ACC2D='ACC2D(↑)',
    EPE_FD='EPE_FD(↓)',
    EPE_FS='EPE_FS(↓)',
    EPE_BS='EPE_BS(↓)',
    ThreewayEPE='ThreewayEPE(↓)')

#: Data sample entries that carry the per-point labels of the Threeway EPE.
LABEL_KEYS = ('pc1_label', 'ego_flow', 'frame_interval')
#: Key of the zero-flow baseline: the EPE3D of predicting no motion.
ZERO_FLOW_KEY = 'zero_flow_EPE3D'


def format_metrics_table(
        results_per_dataset: Dict[str, Dict[str, float]]) -> str:
    """Render per-dataset metrics as a table.

    Args:
        results_per_dataset (dict[str, dict[str, float]]): Dataset name to
            its metrics (keys of :data:`METRIC_TITLES`; missing ones are
            shown as ``-``), in row order.

    Returns:
        str: A terminaltables ``AsciiTable`` with the header
        ``Dataset | EPE3D(↓) | ACC3DS(↑) | ACC3DR(↑) | Outliers3D(↓) |
        EPE2D(↓) | ACC2D(↑)``, followed by ``EPE_FD(↓) | EPE_FS(↓) |
        EPE_BS(↓) | ThreewayEPE(↓)`` when any dataset has one of them, and
        one row per dataset, 4 decimals.
    """
    keys = [
        key for key in METRIC_TITLES if key in METRIC_NAMES or any(
            m.get(key) is not None for m in results_per_dataset.values())
    ]
    rows = [['Dataset', *(METRIC_TITLES[key] for key in keys)]]
    for name, metrics in results_per_dataset.items():
        row = [str(name)]
        for key in keys:
            value = metrics.get(key)
            row.append('-' if value is None else f'{float(value):.4f}')
        rows.append(row)
    return AsciiTable(rows).table


def format_zero_flow_lines(metrics_per_dataset: Dict[str, Dict[str, float]],
                           zero_flow: Dict[str, float]) -> List[str]:
    """The zero-flow baseline of each dataset, beside the model's EPE3D.

    Args:
        metrics_per_dataset (dict[str, dict[str, float]]): Dataset name to
            its metrics (``EPE3D`` used when present and not None).
        zero_flow (dict[str, float]): Dataset name to the EPE3D of
            predicting no motion, in row order.

    Returns:
        list[str]: A title line, then e.g. ``'  Synthetic: zero-flow EPE3D
        0.8506 (model/zero = 0.377)'`` per dataset.
    """
    lines = ['Zero-flow baseline (EPE3D of predicting no motion):']
    for name, zero in zero_flow.items():
        epe = metrics_per_dataset.get(name, {}).get('EPE3D')
        ratio = f' (model/zero = {epe / zero:.3f})' if epe is not None \
            and zero > 0 else ''
        lines.append(f'  {name}: zero-flow EPE3D {zero:.4f}{ratio}')
    return lines


def _describe(sample: dict) -> str:
    """A sample's name, dataset and index, for error messages."""
    return (f"sample {sample.get('sample_name', '?')!r} (dataset "
            f"{sample.get('dataset', '?')!r}, sample_idx "
            f"{sample.get('sample_idx', '?')})")


@METRICS.register_module()
class SceneFlowMetric(BaseMetric):
    """Scene flow metrics per dataset: HPLFlowNet's six and Threeway EPE.

    ``process`` computes the metrics of every sample (averaged over its
    points, see :func:`bpfn.evaluation.functional.scene_flow_metrics`);
    ``compute_metrics`` averages them over the samples of each dataset (the
    samples' ``dataset`` field). Each sample is counted once: results are
    keyed by ``(dataset, sample_idx)``, so duplicates added by a padding
    distributed sampler are dropped (an entry is identified by ``dataset``,
    ``sample_idx`` and ``sample_name``), and samples are sorted by index
    before averaging, so the numbers do not depend on the number of ranks.

    Threeway EPE (``EPE_FD``, ``EPE_FS``, ``EPE_BS``, ``ThreewayEPE``, the
    Argoverse 2 challenge's definitions: see
    :mod:`bpfn.evaluation.functional.threeway_epe`) is computed for a
    dataset whose samples carry per-point labels (``pc1_label``,
    ``ego_flow`` and ``frame_interval``, packed by
    :class:`~bpfn.datasets.transforms.PackFlowInputs`; the synthetic scenes
    have them). Each class's EPE is the mean over its points in all samples
    of the dataset. A dataset without labels (FT3D, KITTI) has no Threeway
    keys: the table shows ``-`` and the log says so once.

    The zero-flow baseline, the EPE3D of predicting no motion
    (``mean_i ||gt_flow_i||`` of a sample), is computed per sample too and
    averaged alike.

    Returned keys: ``<dataset>/EPE3D``, ``<dataset>/ACC3DS``, ... (and the
    available Threeway keys) and ``<dataset>/zero_flow_EPE3D`` for every
    dataset, in order of appearance, and ``EPE3D``, the first dataset's
    (for ``CheckpointHook(save_best='EPE3D', rule='less')``). A table of
    all datasets and their zero-flow baselines is logged.

    Each output data sample must hold ``pred_flow`` ``(N, 3)``, ``pc1``
    ``(N, 3)``, ``gt_flow`` ``(N, 3)`` (tensors on any device or arrays),
    ``sample_idx``, ``dataset`` and ``camera``. A sample without ``gt_flow``
    (an unlabelled sample) is refused: validation and testing need ground
    truth.

    Args:
        dynamic_speed (float): Speed (m/s) of the ego-motion-compensated
            flow from which a point is dynamic. Defaults to 0.5, as the
            Argoverse 2 challenge.
        collect_device (str): Device to gather results across ranks.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the returned keys. Defaults to no
            prefix.
        collect_dir (str, optional): Folder to gather results on CPU.
            Defaults to None.
    """

    default_prefix: Optional[str] = ''

    def __init__(self,
                 dynamic_speed: float = DYNAMIC_SPEED,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if not float(dynamic_speed) > 0:
            raise ValueError('SceneFlowMetric: dynamic_speed must be a '
                             f'positive speed (m/s), got {dynamic_speed}')
        self.dynamic_speed = float(dynamic_speed)
        #: Datasets already named in the log as without Threeway labels.
        self.told_unavailable: set = set()

    def _threeway(self, sample: dict) -> Optional[dict]:
        present = [key for key in LABEL_KEYS if key in sample]
        if not present:
            return None
        if len(present) < len(LABEL_KEYS):
            missing = [key for key in LABEL_KEYS if key not in sample]
            raise KeyError(
                f'SceneFlowMetric: {_describe(sample)} has {present} but no '
                f'{missing}; the Threeway EPE needs all of '
                f'{list(LABEL_KEYS)}')
        return threeway_epe_sums(sample['pred_flow'], sample['gt_flow'],
                                 sample['pc1_label'], sample['ego_flow'],
                                 float(sample['frame_interval']),
                                 self.dynamic_speed)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Compute the metrics of each sample of a batch.

        Args:
            data_batch (Any): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs, one dict per
                sample.
        """
        for sample in data_samples:
            for key in ('pred_flow', 'pc1'):
                if key not in sample:
                    raise KeyError(
                        f'SceneFlowMetric: output sample has no {key!r} '
                        f'(keys: {sorted(sample)})')
            if 'gt_flow' not in sample:
                raise KeyError(
                    f'SceneFlowMetric: {_describe(sample)} has no '
                    'ground-truth flow (gt_flow): validation and testing '
                    'need ground truth on every sample; unlabelled samples '
                    '(UnlabeledScans, the hidden scenes of '
                    'SyntheticSceneFlow(labeled_fraction<1)) are for '
                    'training only')
            metrics = scene_flow_metrics(
                sample['pc1'],
                sample['pred_flow'],
                sample['gt_flow'],
                camera=sample.get('camera', 'ft3d'))
            gt = torch.as_tensor(sample['gt_flow']).float()
            self.results.append(
                dict(
                    dataset=str(sample.get('dataset', 'default')),
                    sample_idx=int(sample.get('sample_idx', -1)),
                    sample_name=str(sample.get('sample_name', '')),
                    metrics=metrics,
                    zero_flow=float(gt.norm(dim=-1).mean()),
                    threeway=self._threeway(sample)))

    @staticmethod
    def average_per_dataset(
            results: List[dict]) -> 'OrderedDict[str, Dict[str, float]]':
        """Average per-sample results per dataset, counting each sample once.

        Args:
            results (list[dict]): Entries made by :meth:`process`.

        Returns:
            OrderedDict[str, dict[str, float]]: Dataset name (in order of
            first appearance) to its averaged metrics, the zero-flow
            baseline (``zero_flow_EPE3D``), ``num_samples`` and,
            where every sample has labels, the Threeway keys of
            :func:`~bpfn.evaluation.functional.threeway_epe_from_sums` and
            ``threeway_points`` (points per class, ``{'FD': n, ...}``).
        """
        grouped: 'OrderedDict[str, Dict[tuple, dict]]' = OrderedDict()
        for res in results:
            per_dataset = grouped.setdefault(res['dataset'], {})
            key = (res['sample_idx'], res.get('sample_name', ''))
            if res['sample_idx'] < 0:  # no index: keep every entry
                key = (-1 - len(per_dataset), '')
            per_dataset.setdefault(key, res)
        averaged: 'OrderedDict[str, Dict[str, float]]' = OrderedDict()
        for name, samples in grouped.items():
            ordered = [samples[k] for k in sorted(samples)]
            averaged[name] = {
                key: float(
                    np.mean(
                        np.array([r['metrics'][key] for r in ordered],
                                 dtype=np.float64)))
                for key in METRIC_NAMES
            }
            averaged[name][ZERO_FLOW_KEY] = float(np.mean(np.array(
                [r['zero_flow'] for r in ordered], dtype=np.float64)))
            averaged[name]['num_samples'] = len(ordered)
            sums = [r.get('threeway') for r in ordered]
            if sums and all(s is not None for s in sums):
                pooled = {
                    c: (float(np.sum([s[c][0] for s in sums])),
                        int(np.sum([s[c][1] for s in sums])))
                    for c, _ in THREEWAY_CLASSES
                }
                averaged[name].update(threeway_epe_from_sums(pooled))
                averaged[name]['threeway_points'] = {
                    c: n for c, (_, n) in pooled.items()
                }
            else:
                averaged[name]['threeway_labeled_samples'] = sum(
                    s is not None for s in sums)
        return averaged

    def _threeway_notes(self, averaged: dict) -> List[str]:
        """Log lines on the Threeway EPE of each dataset."""
        notes = []
        for name, values in averaged.items():
            points = values.get('threeway_points')
            if points is not None:
                counts = ', '.join(f'{c} {n}' for c, n in points.items())
                empty = [
                    long for c, long in THREEWAY_CLASSES if points[c] == 0
                ]
                line = (f'Threeway EPE of {name}: points per class {counts} '
                        f'(dynamic: compensated speed >= '
                        f'{self.dynamic_speed:g} m/s)')
                if empty:
                    line += (f'; no {" / ".join(empty)} point, so no '
                             'ThreewayEPE')
                notes.append(line)
            elif name not in self.told_unavailable:
                self.told_unavailable.add(name)
                labeled = values['threeway_labeled_samples']
                notes.append(
                    f'Threeway EPE not available for {name}: '
                    f'{labeled} of {values["num_samples"]} samples carry '
                    'per-point labels (pc1_label, ego_flow, frame_interval)')
        return notes

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Average the collected results and log the table.

        Args:
            results (list): Entries made by :meth:`process`, from all ranks.

        Returns:
            dict[str, float]: ``<dataset>/<metric>`` (and
            ``<dataset>/zero_flow_EPE3D``) of every dataset and ``EPE3D``,
            the first dataset's.
        """
        averaged = self.average_per_dataset(results)
        if not averaged:
            return {}
        counts = ', '.join(f'{name}: {m["num_samples"]} samples'
                           for name, m in averaged.items())
        lines = [f'Scene flow results ({counts}):',
                 format_metrics_table(averaged),
                 *format_zero_flow_lines(averaged, {
                     name: values[ZERO_FLOW_KEY]
                     for name, values in averaged.items()}),
                 *self._threeway_notes(averaged)]
        print_log('\n'.join(lines), logger=MMLogger.get_current_instance())
        keys = (*METRIC_NAMES, *THREEWAY_NAMES, ZERO_FLOW_KEY)
        metrics = dict(EPE3D=next(iter(averaged.values()))['EPE3D'])
        for name, values in averaged.items():
            for key in keys:
                if key in values:
                    metrics[f'{name}/{key}'] = values[key]
        return metrics
