import pytest
import torch

from bpfn.ops import gather_points, group_points, knn, square_distance
from bpfn.ops.knn import knn_blocked, knn_brute_force


def test_square_distance_matches_definition():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 50, 3, generator=gen), torch.rand(2, 70, 3,
                                                            generator=gen)
    expected = ((a.unsqueeze(2) - b.unsqueeze(1))**2).sum(-1)
    assert torch.allclose(square_distance(a, b), expected, atol=1e-6)


@pytest.mark.parametrize('max_elements', [None, 100, 1000])
def test_knn_matches_brute_force(max_elements):
    gen = torch.Generator().manual_seed(1)
    # Integer coordinates on a coarse grid would tie; random ones do not.
    ref = torch.rand(2, 200, 3, generator=gen) * 10
    query = torch.rand(2, 77, 3, generator=gen) * 10
    idx, dist = knn(8, ref, query, max_elements, return_dist=True)
    assert idx.shape == (2, 77, 8)
    expected = knn_brute_force(8, ref, query)
    # topk(sorted=False) returns the same set, in any order.
    assert torch.equal(idx.sort(-1)[0], expected.sort(-1)[0])
    true_dist = ((group_points(ref, idx) - query.unsqueeze(2))**2).sum(-1)
    assert torch.allclose(dist, true_dist, atol=1e-4)


def test_knn_chunking_is_exact():
    gen = torch.Generator().manual_seed(2)
    ref, query = torch.rand(1, 500, 3, generator=gen), torch.rand(
        1, 300, 3, generator=gen)
    whole = knn(5, ref, query, max_elements=10**9)
    chunked = knn(5, ref, query, max_elements=500 * 7)
    assert torch.equal(whole.sort(-1)[0], chunked.sort(-1)[0])


def test_knn_too_few_points():
    with pytest.raises(ValueError, match='k=9 neighbours among only 4'):
        knn(9, torch.rand(1, 4, 3), torch.rand(1, 2, 3))


def test_gather_and_group():
    points = torch.arange(2 * 5 * 2, dtype=torch.float).view(2, 5, 2)
    idx = torch.tensor([[4, 0], [1, 1]])
    out = gather_points(points, idx)
    assert torch.equal(out[0, 0], points[0, 4])
    assert torch.equal(out[1, 1], points[1, 1])
    grouped = group_points(points, idx.view(2, 1, 2))
    assert grouped.shape == (2, 1, 2, 2)
    assert torch.equal(grouped[0, 0, 0], points[0, 4])


def _sets(idx, dist):
    """Neighbour sets and distance multisets, independent of order."""
    return idx.sort(-1)[0], dist.sort(-1)[0]


def _assert_same_neighbours(ref, query, k, **kwargs):
    dense = knn(k, ref, query, return_dist=True, method='dense')
    blocked = knn_blocked(k, ref, query, **kwargs)
    for a, b in zip(_sets(*dense), _sets(*blocked)):
        assert torch.equal(a, b)
    return blocked


@pytest.mark.parametrize('k', [1, 3, 16, 40])
@pytest.mark.parametrize('max_elements', [2**20, 3000])
def test_knn_blocked_equals_dense(k, max_elements):
    gen = torch.Generator().manual_seed(k)
    # Sizes that are not multiples of the blocks, and small blocks, so that
    # the clouds are cut into many blocks, some of them padded.
    ref = torch.rand(2, 1001, 3, generator=gen) * torch.tensor([20., 4, 9])
    query = ref[:, :777] + 0.3 * torch.randn(2, 777, 3, generator=gen)
    _assert_same_neighbours(ref, query, k, max_elements=max_elements,
                            query_block_size=16, ref_block_size=8)


def test_knn_blocked_breaks_ties_as_dense():
    gen = torch.Generator().manual_seed(3)
    # Integer coordinates: most k-th distances tie with the next ones, and
    # only the dense search on those rows reproduces its choice of which
    # tied points to keep.
    ref = torch.randint(0, 12, (2, 900, 3), generator=gen).float()
    query = torch.randint(0, 12, (2, 300, 3), generator=gen).float()
    for k in (5, 16):
        dense = knn(k, ref, query, method='dense')
        blocked = knn(k, ref, query, method='blocked')
        assert torch.equal(dense.sort(-1)[0], blocked.sort(-1)[0])


def test_knn_blocked_clustered_and_duplicated_points():
    gen = torch.Generator().manual_seed(4)
    # Two tight clusters far apart, each point repeated: blocks of very
    # different extents and exact duplicates.
    cluster = torch.randn(1, 300, 3, generator=gen) * 0.01
    ref = torch.cat([cluster, cluster + 100., cluster], dim=1)
    query = torch.cat([cluster[:, :100] + 100., cluster[:, 100:200]], dim=1)
    _assert_same_neighbours(ref, query, 7, query_block_size=16,
                            ref_block_size=8)


def test_knn_blocked_large_cloud_and_auto():
    gen = torch.Generator().manual_seed(5)
    ref = torch.rand(1, 4096, 3, generator=gen) * 10
    query = ref + 0.05 * torch.randn(1, 4096, 3, generator=gen)
    idx, dist = _assert_same_neighbours(ref, query, 32, max_elements=2**20)
    assert idx.shape == (1, 4096, 32) and dist.shape == (1, 4096, 32)
    # 4096 x 4096 pairs on CPU: 'auto' takes the blocked search.
    auto = knn(32, ref, query, return_dist=True)
    assert torch.equal(auto[0], idx) and torch.equal(auto[1], dist)


def test_knn_blocked_non_finite_falls_back_to_dense():
    ref = torch.rand(1, 600, 3)
    query = torch.rand(1, 300, 3)
    query[0, 5, 1] = float('inf')
    dense = knn(4, ref, query, method='dense')
    blocked = knn(4, ref, query, method='blocked')
    assert torch.equal(dense, blocked)


def test_knn_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'kdtree'"):
        knn(2, torch.rand(1, 5, 3), torch.rand(1, 3, 3), method='kdtree')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_knn_blocked_equals_dense_cuda():
    gen = torch.Generator().manual_seed(6)
    ref = (torch.rand(2, 3000, 3, generator=gen) * 10).cuda()
    query = (torch.rand(2, 2000, 3, generator=gen) * 10).cuda()
    _assert_same_neighbours(ref, query, 16, max_elements=2**22)
