"""Count test samples whose predicted flow holds NaN or infinite values."""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook

from bpfn.registry import HOOKS

#: Message hub info key: ``{dataset: dict(count, total, samples)}``.
NON_FINITE_KEY = 'bpfn_non_finite_predictions'


@HOOKS.register_module()
class NonFinitePredictionHook(Hook):
    """Find the test samples whose ``pred_flow`` is not finite.

    A NaN prediction makes EPE3D NaN but can leave the accuracies finite
    (comparisons with NaN are false), so ``tools/test.py`` checks the
    predictions as well as the metrics. Each sample is counted once across
    ranks; per dataset the message hub info ``'bpfn_non_finite_predictions'``
    holds ``count`` (samples with non-finite values), ``total`` (samples
    tested) and ``samples`` (the names of the first five).
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._records: List[Tuple[str, str, bool]] = []
        self.results: Dict[str, dict] = OrderedDict()

    def before_test(self, runner) -> None:
        """Start a new count."""
        self._records = []

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[list] = None) -> None:
        """Record whether every predicted flow of the batch is finite."""
        for i, sample in enumerate(outputs or []):
            if not isinstance(sample, dict) or 'pred_flow' not in sample:
                continue
            flow = torch.as_tensor(sample['pred_flow'])
            name = str(sample.get('sample_name') or
                       sample.get('sample_idx', f'{batch_idx}:{i}'))
            self._records.append((str(sample.get('dataset', 'SceneFlow')),
                                  name, bool(torch.isfinite(flow).all())))

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Reduce the records of all ranks, one per sample."""
        records = self._records
        if get_world_size() > 1:
            records = [r for part in all_gather_object(records) for r in part]
        unique: Dict[Tuple[str, str], bool] = OrderedDict()
        for dataset, name, finite in records:
            unique.setdefault((dataset, name), finite)
        self.results = OrderedDict()
        for (dataset, name), finite in unique.items():
            entry = self.results.setdefault(
                dataset, dict(count=0, total=0, samples=[]))
            entry['total'] += 1
            if not finite:
                entry['count'] += 1
                if len(entry['samples']) < 5:
                    entry['samples'].append(name)
        runner.message_hub.update_info(NON_FINITE_KEY, dict(self.results))


__all__ = ['NonFinitePredictionHook']
