"""The teacher's error range over the training set, for AIL's weights."""
import copy
import hashlib
import inspect
import json
import math
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.dist import get_dist_info, get_world_size, is_main_process
from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from bpfn.registry import HOOKS, TRANSFORMS
from bpfn.utils.fileio import atomic_write_json, sha256_file
from .kd_hook_utils import rng_neutral, unwrap_distiller

__all__ = ['AILErrorRangeHook']

#: Checkpoint ``meta`` entry of the measured range.
AIL_RANGE_KEY = 'ail_error_range'


def _deterministic_pipeline(pipeline: list) -> list:
    """The pipeline with every random transform seeded per sample index."""
    out = []
    for transform in pipeline:
        transform = dict(transform)
        cls = TRANSFORMS.get(transform.get('type', ''))
        if cls is not None and 'deterministic' in inspect.signature(
                cls.__init__).parameters:
            transform['deterministic'] = True
        out.append(transform)
    return out


@HOOKS.register_module()
class AILErrorRangeHook(Hook):
    """Measure ``e_min`` / ``e_max`` of the teacher over the training data.

    Saputra et al. normalise the AIL trust ``Phi = 1 - e / eta`` by the
    range ``eta = max e - min e`` of the teacher's errors over the whole
    training set. Before the first epoch this hook runs the frozen teacher
    (eval mode, no gradients) over the training data and sets, for every
    pyramid level, the smallest and largest per-point error on each
    ``AILLoss(error_range='train_set')`` of the distiller.

    The pass is deterministic: samples in order, and every random transform
    of the training pipeline (point sampling, augmentation) seeded from the
    sample index, so the same data and teacher give the same range (on any
    number of processes: each takes its share and the extremes are
    all-reduced). It leaves the RNG states untouched.

    Only samples with ground truth are measured (the teacher's error needs
    it): in training data that mixes in unlabelled samples (unlabelled
    scans, ``SyntheticSceneFlow(labeled_fraction=...)``) the labelled ones
    are found by :func:`~bpfn.datasets.labeled_mask` and only they are
    loaded; the log says how many of the training samples were measured.
    Training data without any labelled sample is an error. The range is logged,
    cached in the work dir (``cache_file``, valid for the same teacher
    checkpoint file, training data config and sampling) and stored in every
    checkpoint (``meta['ail_error_range']``): a resumed run, or a new run in
    the same work dir, does not measure again.

    Args:
        cache_file (str): Cache file name in the work dir.
            Defaults to ``'ail_error_range.json'``.
        batch_size (int, optional): Batch size of the pass. Defaults to the
            training batch size.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, cache_file: str = 'ail_error_range.json',
                 batch_size: Optional[int] = None) -> None:
        self.cache_file = cache_file
        self.batch_size = batch_size
        self.record: Optional[dict] = None
        self._from_checkpoint: Optional[dict] = None

    # ------------------------------------------------------------------
    @staticmethod
    def _losses(distiller) -> list:
        from bpfn.models.losses import AILLoss
        losses = [loss for loss in distiller.distill_losses
                  if isinstance(loss, AILLoss)
                  and loss.error_range == 'train_set']
        if not losses:
            raise ValueError(
                'AILErrorRangeHook: the distiller has no '
                "AILLoss(error_range='train_set') entry in "
                'model.distill_losses; remove the hook or add the loss')
        return losses

    @staticmethod
    def _loader_cfg(runner) -> dict:
        cfg = runner.cfg.get('train_dataloader')
        if not isinstance(cfg, dict) or 'dataset' not in cfg:
            raise TypeError('AILErrorRangeHook needs train_dataloader as a '
                            'config dict (with a dataset) to run the teacher '
                            'over the training data')
        return copy.deepcopy(dict(cfg))

    def _key(self, runner, distiller) -> str:
        dataset = self._loader_cfg(runner)['dataset']
        content = dict(
            teacher_sha256=sha256_file(distiller.teacher_ckpt),
            dataset=dataset,
            student_points=getattr(distiller.student, 'num_points', None),
            teacher_points=getattr(distiller.teacher, 'num_points', None))
        text = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _read_cache(self, path: str, key: str) -> Optional[dict]:
        if not osp.isfile(path):
            return None
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            return None
        return record if record.get('key') == key else None

    @torch.no_grad()
    def measure(self, runner, distiller) -> dict:
        """Run the frozen teacher over the training data.

        Args:
            runner: The runner.
            distiller (SceneFlowDistiller): The distiller.

        Returns:
            dict: ``e_min`` and ``e_max`` (plain end-point errors, one per
            level), ``num_samples`` (the labelled samples measured) and
            ``num_unlabeled`` (the training samples skipped).
        """
        cfg = self._loader_cfg(runner)
        dataset = dict(cfg['dataset'])
        if 'pipeline' in dataset:
            dataset['pipeline'] = _deterministic_pipeline(dataset['pipeline'])
        cfg.update(dataset=dataset,
                   sampler=dict(type='DefaultSampler', shuffle=False),
                   num_workers=0, persistent_workers=False, drop_last=False)
        if self.batch_size is not None:
            cfg['batch_size'] = self.batch_size
        cfg.pop('batch_sampler', None)
        with rng_neutral():
            loader, total = self._labeled_loader(
                runner.build_dataloader(cfg, seed=0))
            lows: List[float] = []
            highs: List[float] = []
            measured = 0
            for batch in loader:
                data = distiller.data_preprocessor(batch, False)
                inputs, samples = _labeled_part(data['inputs'],
                                                data['data_samples'])
                if not samples:
                    continue
                measured += len(samples)
                errors = distiller.teacher_point_errors(
                    inputs, samples, squared=False)
                if not lows:
                    lows = [math.inf] * len(errors)
                    highs = [-math.inf] * len(errors)
                for level, err in enumerate(errors):
                    lows[level] = min(lows[level], float(err.min()))
                    highs[level] = max(highs[level], float(err.max()))
        if get_world_size() > 1:
            lows, highs, measured = _all_reduce_range(lows, highs, measured)
        if not total:
            raise RuntimeError('AILErrorRangeHook: the training data is empty')
        if not measured:
            raise RuntimeError(
                f'AILErrorRangeHook: none of the {total} training samples '
                'has ground truth (gt_flow), so the teacher\'s error range '
                'over the training set cannot be measured; AIL needs '
                'labelled training samples')
        return dict(e_min=lows, e_max=highs, num_samples=measured,
                    num_unlabeled=max(total - measured, 0))

    @staticmethod
    def _labeled_loader(loader: DataLoader) -> Tuple[DataLoader, int]:
        """A loader of this process's share of the labelled samples.

        Args:
            loader (DataLoader): The deterministic training loader.

        Returns:
            tuple[DataLoader, int]: The loader, in index order, and the
            number of training samples (labelled or not).
        """
        from bpfn.datasets import labeled_mask
        dataset = loader.dataset
        try:
            mask = labeled_mask(dataset)
        except TypeError:  # cannot tell: load all, keep the labelled ones
            mask = np.ones(len(dataset), dtype=bool)
        rank, world = get_dist_info()
        indices = np.flatnonzero(mask)[rank::world].tolist()
        labeled = DataLoader(dataset, batch_size=loader.batch_size,
                             sampler=indices, collate_fn=loader.collate_fn,
                             num_workers=0)
        return labeled, len(mask)

    # ------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the range stored in the checkpoint."""
        self._from_checkpoint = (checkpoint.get('meta') or {}).get(
            AIL_RANGE_KEY)

    def before_train(self, runner) -> None:
        """Set the range on the AIL losses: checkpoint, cache or a pass."""
        distiller = unwrap_distiller(runner, 'AILErrorRangeHook')
        losses = self._losses(distiller)
        key = self._key(runner, distiller)
        cache = osp.join(runner.work_dir, self.cache_file)
        record, source = None, None
        stored = self._from_checkpoint
        if isinstance(stored, dict) and stored.get('key') == key:
            record, source = stored, 'the checkpoint'
        if record is None:
            record = self._read_cache(cache, key)
            source = f'the cache {cache}'
        if record is None:
            runner.logger.info(
                'AILErrorRangeHook: running the frozen teacher over the '
                "training data for AIL's error range ...")
            record = dict(self.measure(runner, distiller), key=key)
            source = (f'a pass of the teacher over {record["num_samples"]} '
                      'training scenes')
            if record.get('num_unlabeled'):
                source += (f' (the labelled ones; {record["num_unlabeled"]} '
                           'without ground truth skipped)')
            if is_main_process():
                os.makedirs(runner.work_dir, exist_ok=True)
                atomic_write_json(record, cache)
        self.record = record
        for loss in losses:
            power = 2 if loss.squared else 1
            loss.set_error_range([
                (lo**power, hi**power)
                for lo, hi in zip(record['e_min'], record['e_max'])])
        kinds = sorted({'squared' if loss.squared else 'plain'
                        for loss in losses})
        levels = ', '.join(
            f'level {i}: [{lo:.4g}, {hi:.4g}]'
            for i, (lo, hi) in enumerate(zip(record['e_min'],
                                             record['e_max'])))
        runner.logger.info(
            f'AIL error range of the teacher (end-point errors, from '
            f'{source}; Phi uses their {"/".join(kinds)} values): {levels}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the range in the checkpoint's meta."""
        if self.record is not None:
            checkpoint.setdefault('meta', {})[AIL_RANGE_KEY] = dict(
                self.record)


def _labeled_part(inputs: dict, samples: list) -> Tuple[dict, list]:
    """The inputs and data samples of a batch's labelled samples."""
    keep = [i for i, ds in enumerate(samples) if 'gt_flow' in ds]
    if len(keep) == len(samples):
        return inputs, samples
    index = torch.tensor(keep, dtype=torch.long)
    inputs = {k: v[index.to(v.device)] if isinstance(v, torch.Tensor) else v
              for k, v in inputs.items()}
    return inputs, [samples[i] for i in keep]


def _all_reduce_range(lows: List[float], highs: List[float],
                      measured: int) -> Tuple[List[float], List[float], int]:
    """Extremes and count over the processes (a process may have none)."""
    levels = torch.tensor([len(lows)], dtype=torch.float64)
    torch_dist.all_reduce(levels, op=torch_dist.ReduceOp.MAX)
    num = int(levels.item())
    lo = torch.tensor(lows + [math.inf] * (num - len(lows)),
                      dtype=torch.float64)
    hi = torch.tensor(highs + [-math.inf] * (num - len(highs)),
                      dtype=torch.float64)
    count = torch.tensor([float(measured)], dtype=torch.float64)
    torch_dist.all_reduce(lo, op=torch_dist.ReduceOp.MIN)
    torch_dist.all_reduce(hi, op=torch_dist.ReduceOp.MAX)
    torch_dist.all_reduce(count)
    return lo.tolist(), hi.tolist(), int(count.item())
