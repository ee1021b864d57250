"""The EPE3D of predicting zero flow, measured on the evaluated samples."""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook

from bpfn.registry import HOOKS

#: Message hub info key of the per-dataset zero-flow EPE3D.
ZERO_FLOW_KEY = 'bpfn_zero_flow_epe3d'


def _samples(data_batch, outputs) -> list:
    if outputs and isinstance(outputs[0], dict) and 'gt_flow' in outputs[0]:
        return list(outputs)
    if isinstance(data_batch, dict):
        return list(data_batch.get('data_samples') or [])
    return []


@HOOKS.register_module()
class ZeroFlowBaselineHook(Hook):
    """Measure the zero-flow baseline (mean ``||gt_flow||``) while testing.

    For every tested sample the mean end-point error of a zero prediction,
    ``mean_i ||gt_flow_i||``, is recorded; the baseline of a dataset is the
    mean over its samples, each sample counted once across ranks. Results
    are in :attr:`results` and in the message hub info
    ``'bpfn_zero_flow_epe3d'`` (``{dataset: value}``).
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._records: List[Tuple[str, str, float]] = []
        self.results: Dict[str, float] = OrderedDict()

    def before_test(self, runner) -> None:
        """Start a new measurement."""
        self._records = []

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[list] = None) -> None:
        """Record ``mean ||gt_flow||`` of every sample of the batch."""
        for i, sample in enumerate(_samples(data_batch, outputs)):
            if not isinstance(sample, dict) or 'gt_flow' not in sample:
                continue
            flow = torch.as_tensor(sample['gt_flow']).float()
            mask = sample.get('mask', sample.get('gt_mask'))
            norms = flow.norm(dim=-1)
            if mask is not None:
                norms = norms[torch.as_tensor(mask).bool().reshape(-1)]
            key = str(sample.get('sample_idx', sample.get('sample_name',
                                                          (batch_idx, i))))
            self._records.append((str(sample.get('dataset', 'SceneFlow')),
                                  key, float(norms.mean())))

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Reduce the records of all ranks, one value per sample."""
        records = self._records
        if get_world_size() > 1:
            records = [r for part in all_gather_object(records) for r in part]
        unique: Dict[Tuple[str, str], float] = OrderedDict()
        for dataset, key, value in records:
            unique.setdefault((dataset, key), value)
        sums: Dict[str, List[float]] = OrderedDict()
        for (dataset, _), value in unique.items():
            sums.setdefault(dataset, []).append(value)
        self.results = OrderedDict(
            (name, sum(v) / len(v)) for name, v in sums.items())
        runner.message_hub.update_info(ZERO_FLOW_KEY, dict(self.results))


__all__ = ['ZeroFlowBaselineHook']
