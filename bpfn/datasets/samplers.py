"""A batch sampler with a fixed number of labelled samples per batch."""
import math
from typing import Iterator, List

import numpy as np
import torch
from mmengine.dataset import ConcatDataset, RepeatDataset
from mmengine.dist import get_dist_info
from torch.utils.data import Sampler

from bpfn.registry import DATA_SAMPLERS


def labeled_mask(dataset) -> np.ndarray:
    """Which samples of a dataset carry ground-truth flow.

    Args:
        dataset: A bpfn dataset (its ``labeled_mask()``), or MMEngine's
            ``ConcatDataset`` / ``RepeatDataset`` of them.

    Returns:
        np.ndarray: ``(len(dataset),)`` bool.

    Raises:
        TypeError: If a dataset cannot say which samples are labelled.
    """
    if isinstance(dataset, ConcatDataset):
        dataset.full_init()
        return np.concatenate([labeled_mask(d) for d in dataset.datasets])
    if isinstance(dataset, RepeatDataset):
        dataset.full_init()
        return np.tile(labeled_mask(dataset.dataset), dataset.times)
    if not callable(getattr(dataset, 'labeled_mask', None)):
        raise TypeError(
            f'{type(dataset).__name__} cannot say which of its samples carry '
            'ground truth (no labeled_mask()); use bpfn datasets, or '
            'ConcatDataset / RepeatDataset of them')
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    mask = np.asarray(dataset.labeled_mask(), dtype=bool)
    if mask.shape != (len(dataset), ):
        raise ValueError(
            f'{type(dataset).__name__}.labeled_mask() gave shape '
            f'{mask.shape}; expected ({len(dataset)},)')
    return mask


@DATA_SAMPLERS.register_module()
class LabeledShareBatchSampler(Sampler):
    """Batches with ``labeled_per_batch`` labelled samples each.

    The dataset (typically MMEngine's ``ConcatDataset`` of a labelled and an
    unlabelled dataset, or one ``SyntheticSceneFlow`` with
    ``labeled_fraction < 1``) is split into its labelled and unlabelled
    samples (:func:`labeled_mask`). Every batch holds ``labeled_per_batch``
    labelled samples followed by ``batch_size - labeled_per_batch``
    unlabelled ones. Config::

        train_dataloader = dict(
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_sampler=dict(
                type='LabeledShareBatchSampler', labeled_per_batch=1),
            dataset=dict(
                type='ConcatDataset',
                # frame_interval: when only one dataset has it (FT3D + scans)
                ignore_keys=['dataset_name', 'frame_interval'],
                datasets=[labelled_dataset, unlabelled_dataset]),
            ...)

    The ``sampler`` (a ``DefaultSampler``) gives the dataset, ``shuffle``,
    ``seed`` and the epoch (the training loop calls its ``set_epoch``);
    this class draws the two streams itself:

    1. With ``shuffle``, each stream is permuted by a generator seeded with
       ``seed + epoch`` (the labelled permutation first, then the unlabelled
       one), as ``DefaultSampler`` permutes; else it keeps index order.
    2. For distributed training each stream is padded by repeating its
       start to a multiple of the world size and rank ``r`` takes every
       ``world_size``-th index from ``r`` (``DefaultSampler``'s sharding),
       so the ranks see disjoint samples of each stream.
    3. An epoch has ``max(ceil(L / k), ceil(U / (B - k)))`` batches per
       rank, for ``L`` and ``U`` the labelled and unlabelled samples of a
       rank, ``k = labeled_per_batch`` and ``B = batch_size``: every sample
       of the stream that needs more batches is used once, and the other
       stream is repeated in the same order to fill its share. Every rank
       has the same number of batches, every batch is full.

    So the batches are the same for the same seed, epoch and world size.

    Args:
        sampler (Sampler): The dataloader's sampler, given by the runner;
            it needs ``dataset``, ``shuffle``, ``seed`` and ``epoch``
            (``DefaultSampler`` has them).
        batch_size (int): Samples per batch, given by the runner from the
            dataloader's ``batch_size``.
        labeled_per_batch (int): Labelled samples per batch, from 1 to
            ``batch_size - 1``.
    """

    def __init__(self, sampler: Sampler, batch_size: int,
                 labeled_per_batch: int) -> None:
        missing = [
            a for a in ('dataset', 'shuffle', 'seed', 'epoch')
            if not hasattr(sampler, a)
        ]
        if missing:
            raise TypeError(
                f'LabeledShareBatchSampler: the sampler '
                f'({type(sampler).__name__}) has no {", ".join(missing)}; use '
                "sampler=dict(type='DefaultSampler', shuffle=True)")
        batch_size, k = int(batch_size), int(labeled_per_batch)
        if not 0 < k < batch_size:
            raise ValueError(
                f'LabeledShareBatchSampler: labeled_per_batch must be from 1 '
                f'to batch_size - 1 = {batch_size - 1}, got {k} (a batch of '
                'one kind only needs no mixing: use the default batch '
                'sampler)')
        self.sampler = sampler
        self.batch_size = batch_size
        self.labeled_per_batch = k
        mask = labeled_mask(sampler.dataset)
        self.labeled = np.flatnonzero(mask)
        self.unlabeled = np.flatnonzero(~mask)
        for name, stream in (('labelled', self.labeled),
                             ('unlabelled', self.unlabeled)):
            if len(stream) == 0:
                raise ValueError(
                    f'LabeledShareBatchSampler: the dataset '
                    f'({type(sampler.dataset).__name__}, {len(mask)} samples)'
                    f' has no {name} sample; it needs both kinds')
        self.rank, self.world_size = get_dist_info()
        per_rank = [
            math.ceil(len(s) / self.world_size)
            for s in (self.labeled, self.unlabeled)
        ]
        self.num_batches = max(
            math.ceil(per_rank[0] / k),
            math.ceil(per_rank[1] / (batch_size - k)))

    def _rank_stream(self, stream: np.ndarray, generator: torch.Generator,
                     count: int) -> np.ndarray:
        """This rank's ``count`` indices of a stream (see steps 1-3)."""
        if self.sampler.shuffle:
            stream = stream[torch.randperm(
                len(stream), generator=generator).numpy()]
        per_rank = math.ceil(len(stream) / self.world_size)
        stream = np.resize(stream, per_rank * self.world_size)
        return np.resize(stream[self.rank::self.world_size], count)

    def __iter__(self) -> Iterator[List[int]]:
        generator = torch.Generator()
        generator.manual_seed(int(self.sampler.seed) + int(self.sampler.epoch))
        k, u = self.labeled_per_batch, self.batch_size - self.labeled_per_batch
        lab = self._rank_stream(self.labeled, generator, self.num_batches * k)
        unl = self._rank_stream(self.unlabeled, generator,
                                self.num_batches * u)
        for b in range(self.num_batches):
            yield (lab[b * k:(b + 1) * k].tolist() +
                   unl[b * u:(b + 1) * u].tolist())

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return self.num_batches
