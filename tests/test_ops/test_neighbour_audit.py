"""``neighbour_audit``: the default searches against the export paths."""
import importlib

import torch

from bpfn.ops import (NeighbourAudit, furthest_point_sample, knn,
                      neighbour_audit)

knn_module = importlib.import_module('bpfn.ops.knn')


def test_compare_knn_by_hand():
    audit = NeighbourAudit()
    # Row 0: same set in another order. Row 1: index 4 instead of 3 at the
    # same distance (a tie). Row 2: index 5 at a larger distance.
    idx = torch.tensor([[[1, 0], [2, 4], [0, 5]]])
    dist = torch.tensor([[[.2, .1], [.1, .3], [.1, .9]]])
    export_idx = torch.tensor([[[0, 1], [2, 3], [0, 1]]])
    export_dist = torch.tensor([[[.1, .2], [.1, .3], [.1, .2]]])
    audit.compare_knn(idx, dist, export_idx, export_dist)
    assert (audit.searches, audit.rows) == (1, 3)
    assert (audit.tie_rows, audit.other_rows) == (1, 1)
    assert not audit.exact
    audit.compare_samples(torch.tensor([[0, 3]]), torch.tensor([[0, 3]]))
    assert (audit.samplings, audit.sampling_mismatches) == (1, 0)
    audit.compare_samples(torch.tensor([[0, 3]]), torch.tensor([[0, 2]]))
    assert audit.sampling_mismatches == 1
    assert audit.summary() == (
        '1 neighbour searches (3 query rows): 1 rows take other neighbours '
        'at exact float32 distance ties, 1 rows take neighbours at other '
        'distances; 2 samplings, 1 differ')


def _grid(n: int) -> torch.Tensor:
    """Points of an integer grid (1, n**3, 3): most distances tie."""
    axis = torch.arange(n, dtype=torch.float32)
    return torch.cartesian_prod(axis, axis, axis).unsqueeze(0)


def test_default_searches_differ_from_export_at_ties_only():
    grid = _grid(8)  # 512 points
    query = grid[:, ::7] + 0.5  # between grid points: 8 equal distances
    with neighbour_audit() as audit:
        for method in ('dense', 'tree'):
            knn(5, grid, query, method=method)
        knn(6, grid, grid)
        furthest_point_sample(grid, 64)
    assert audit.searches == 3 and audit.samplings == 1
    assert audit.rows == 2 * query.shape[1] + grid.shape[1]
    # torch.topk and ONNX TopK take different tied candidates somewhere.
    assert audit.tie_rows > 0
    assert audit.exact, audit.summary()
    # Outside the context nothing is recorded.
    knn(5, grid, query)
    assert audit.searches == 3


def test_a_wrong_neighbour_is_found(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 200, 3, generator=gen)
    query = torch.rand(1, 30, 3, generator=gen)
    dense = knn_module.knn_dense

    def off_by_one(k, ref, query, max_elements=None):
        idx, dist = dense(k, ref, query, max_elements)
        # Row 0 loses its nearest neighbour for the farthest point.
        far = knn_module.square_distance(query[:, :1], ref)[0, 0].argmax()
        nearest = dist[0, 0].argmin()
        idx, dist = idx.clone(), dist.clone()
        idx[0, 0, nearest] = far
        dist[0, 0, nearest] = knn_module.square_distance(
            query[:, :1], ref)[0, 0, far]
        return idx, dist

    monkeypatch.setattr(knn_module, 'knn_dense', off_by_one)
    with neighbour_audit() as audit:
        knn(4, ref, query, method='dense')
    assert (audit.other_rows, audit.tie_rows) == (1, 0)
    assert not audit.exact
