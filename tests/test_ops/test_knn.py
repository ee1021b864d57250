import pytest
import torch

from bpfn.ops import gather_points, group_points, knn, square_distance
from bpfn.ops.knn import knn_brute_force


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
