"""``record_searches`` / ``replay_searches``: searches and samples served
from a recording."""
import importlib

import pytest
import torch

from bpfn.models import BiPointFlowNet
from bpfn.ops import (furthest_point_sample, knn, record_searches,
                      reference_algorithms, replay_searches)

knn_module = importlib.import_module('bpfn.ops.knn')
fps_module = importlib.import_module('bpfn.ops.furthest_point_sample')


def _clouds(seed: int = 0, points: int = 256):
    gen = torch.Generator().manual_seed(seed)
    pc1 = torch.rand(1, points, 3, generator=gen) * 4
    return pc1, pc1 + 0.05 * torch.randn(1, points, 3, generator=gen)


def _tiny_net() -> BiPointFlowNet:
    torch.manual_seed(0)
    return BiPointFlowNet(num_points=[128, 64, 32, 16], feat_neighbors=8,
                          flow_neighbors=8, estimator_neighbors=4,
                          width_mult=0.25, estimator_channels=[16, 16],
                          estimator_mlp=[16, 16]).eval()


def _no_search(monkeypatch):
    """Make every search and sampling below knn() and the sampler fail."""

    def fail(*args, **kwargs):
        raise AssertionError('searched although replaying')

    monkeypatch.setattr(knn_module, '_search', fail)
    monkeypatch.setattr(fps_module, '_sample', fail)


def test_replayed_forward_is_the_recorded_one_without_searching(monkeypatch):
    net = _tiny_net()
    pc1, pc2 = _clouds()
    with torch.no_grad():
        with record_searches() as record:
            first = net.extract(pc1, pc2)
        # Per pyramid level: sampling and a search per downsampling layer
        # (3 + 1), then four decoder levels of searches.
        kinds = [call[0] for call in record.calls]
        assert kinds.count('sample') == 4
        assert kinds.count('knn') == len(record) - 4 > 4
        _no_search(monkeypatch)
        with replay_searches(record):
            again = net.extract(pc1, pc2)
    for a, b in zip(first['flows'], again['flows']):
        assert torch.equal(a, b)
    for key in ('fps_idx_pc1', 'fps_idx_pc2'):
        for a, b in zip(first[key], again[key]):
            assert torch.equal(a, b)
    # A record can be replayed again, once at a time.
    with torch.no_grad(), replay_searches(record):
        net.extract(pc1, pc2)
    with pytest.raises(RuntimeError, match='already being replayed'):
        with replay_searches(record), replay_searches(record):
            pass


def test_recorded_outputs_of_both_ops_and_paths():
    ref, query = _clouds(1)
    with record_searches() as record:
        idx, dist = knn(5, ref, query, return_dist=True)
        idx_only = knn(5, ref, query)
        samples = furthest_point_sample(ref, 32)
        with reference_algorithms():  # another path is recorded too
            ref_idx = knn(5, ref, query)
    assert len(record) == 4
    with replay_searches(record):
        got_idx, got_dist = knn(5, ref, query, return_dist=True)
        assert got_idx is idx and got_dist is dist
        assert knn(5, ref, query) is idx_only
        assert furthest_point_sample(ref, 32) is samples
        assert knn(5, ref, query) is ref_idx
    # Outside both contexts nothing is recorded or replayed.
    knn(5, ref, query)
    assert len(record) == 4


def test_a_call_other_than_the_recorded_one_is_refused():
    ref, query = _clouds(2)
    with record_searches() as record:
        knn(5, ref, query)
        furthest_point_sample(ref, 32)
    # Other k, other shapes, other op, one call too many: each names the
    # call and what the record holds.
    for call, match in (
            (lambda: knn(6, ref, query), "call 1 is knn .*'k', 6"),
            (lambda: knn(5, ref, query[:, :100]), r'call 1 is knn .*100'),
            (lambda: furthest_point_sample(ref, 32), 'call 1 is sample'),
            (lambda: knn(5, ref, query, return_dist=True),
             "'return_dist', True")):
        with pytest.raises(RuntimeError, match=match):
            with replay_searches(record):
                call()
    with pytest.raises(RuntimeError, match='call 3 .* holds 2 calls'):
        with replay_searches(record):
            knn(5, ref, query)
            furthest_point_sample(ref, 32)
            knn(5, ref, query)
    # Fewer calls than recorded.
    with pytest.raises(RuntimeError, match='1 of the 2 recorded calls'):
        with replay_searches(record):
            knn(5, ref, query)
    # Other points of the same shapes (another scene, or another model's
    # warped cloud): refused, not answered with the recorded neighbours.
    moved = query.clone()
    moved[0, 7, 1] += 1e-6
    with pytest.raises(RuntimeError, match='call 1 .* other points'):
        with replay_searches(record):
            knn(5, ref, moved)
    # The record holds copies: changing the recorded tensors in place
    # afterwards does not change what a replay accepts.
    ref.mul_(2)
    with pytest.raises(RuntimeError, match='other points'):
        with replay_searches(record):
            knn(5, ref, query)
