"""Tests of bpfn/datasets/samplers.py."""
import copy

import numpy as np
import pytest
from mmengine.dataset import ConcatDataset, DefaultSampler
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from bpfn.datasets import (LabeledShareBatchSampler, SyntheticSceneFlow,
                           labeled_mask)
from bpfn.datasets import samplers as samplers_module
from bpfn.registry import FUNCTIONS

PACK = [
    dict(type='RandomSampleFlowPoints', num_points=32),
    dict(type='PackFlowInputs')
]


@pytest.fixture
def scan_root(tmp_path):
    """A folder of 8 .npy scans (7 unlabelled pairs)."""
    rng = np.random.default_rng(0)
    for i in range(8):
        np.save(tmp_path / f'{i:04d}.npy',
                rng.uniform([-5, -1, 2], [5, 2, 30], (80, 3)).astype(
                    np.float32))
    return str(tmp_path)


def mixed_loader_cfg(scan_root, labeled_per_batch=1):
    """A config-level mix: 5 labelled synthetic scenes, 7 scan pairs."""
    return dict(
        batch_size=4,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(
            type='LabeledShareBatchSampler',
            labeled_per_batch=labeled_per_batch),
        collate_fn=dict(type=FUNCTIONS.get('flow_collate')),
        dataset=dict(
            type='ConcatDataset',
            ignore_keys=['dataset_name'],
            datasets=[
                dict(type='SyntheticSceneFlow', num_samples=5,
                     num_points=64, pipeline=PACK),
                dict(type='UnlabeledScans', data_root=scan_root,
                     pipeline=[dict(type='LoadScanPair'), *PACK]),
            ]))


def build(cfg, seed=0):
    with DefaultScope.overwrite_default_scope('bpfn'):
        return Runner.build_dataloader(copy.deepcopy(cfg), seed=seed)


def batches(loader, epoch=0):
    loader.batch_sampler.sampler.set_epoch(epoch)
    return [[(s['dataset'], s['sample_idx'], 'gt_flow' in s)
             for s in batch['data_samples']] for batch in loader]


def test_config_mix_has_the_labelled_share_deterministically(scan_root):
    cfg = mixed_loader_cfg(scan_root)
    loader = build(cfg)
    first = batches(loader)
    # max(ceil(5 / 1), ceil(7 / 3)) = 5 batches of 1 labelled + 3 not.
    assert len(loader) == len(first) == 5
    for batch in first:
        assert [has_gt for _, _, has_gt in batch] == [True, False, False,
                                                      False]
        assert [d for d, _, _ in batch] == ['Synthetic'] + \
            ['UnlabeledScans'] * 3
    # Every labelled scene once; the 7 pairs fill the 15 unlabelled slots.
    assert sorted(b[0][1] for b in first) == [0, 1, 2, 3, 4]
    unlabelled = [i for b in first for _, i, _ in b[1:]]
    assert set(unlabelled) == set(range(7))
    # The same seed gives the same batches; another epoch or seed others.
    assert batches(build(cfg)) == first
    assert batches(loader, epoch=1) != first
    assert batches(build(cfg, seed=1)) != first


def test_distributed_ranks_get_disjoint_equal_shares(monkeypatch):
    dataset = SyntheticSceneFlow(num_samples=20, num_points=16,
                                 labeled_fraction=0.3)
    mask = labeled_mask(dataset)
    assert mask.sum() == 6
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(samplers_module, 'get_dist_info',
                            lambda r=rank: (r, 2))
        sampler = DefaultSampler(dataset, shuffle=True, seed=3)
        sampler.set_epoch(2)
        batch_sampler = LabeledShareBatchSampler(
            sampler, batch_size=4, labeled_per_batch=2)
        per_rank.append(list(batch_sampler))
    # Per rank 3 labelled and 7 unlabelled: max(ceil(3/2), ceil(7/2)) = 4.
    assert [len(b) for b in per_rank] == [4, 4]
    for rank_batches in per_rank:
        for batch in rank_batches:
            assert mask[batch].tolist() == [True, True, False, False]
    labelled = [{i for b in r for i in b if mask[i]} for r in per_rank]
    assert not labelled[0] & labelled[1]
    assert labelled[0] | labelled[1] == set(np.flatnonzero(mask))


def test_bad_settings_are_refused(scan_root):
    labelled = SyntheticSceneFlow(num_samples=4, num_points=16)
    sampler = DefaultSampler(labelled, seed=0)
    with pytest.raises(ValueError, match='has no unlabelled sample'):
        LabeledShareBatchSampler(sampler, 4, 1)
    mixed = ConcatDataset([
        labelled,
        SyntheticSceneFlow(num_samples=4, num_points=16, labeled_fraction=0)
    ])
    with pytest.raises(ValueError, match='labeled_per_batch must be from 1 '
                       'to batch_size - 1 = 3, got 4'):
        LabeledShareBatchSampler(DefaultSampler(mixed, seed=0), 4, 4)
    with pytest.raises(TypeError, match="use sampler=dict\\(type='Default"):
        LabeledShareBatchSampler(list(range(8)), 4, 1)
