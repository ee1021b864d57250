import sys

import pytest
import torch
from bpfn_test_utils import knn_brute_force

from bpfn.ops import (gather_points, group_points, kd_trees, knn,
                      reference_algorithms, square_distance)
from bpfn.ops.kd_trees import ScipyCloudTree, tree_backend
from bpfn.ops.knn import (_k_smallest, knn_dense, knn_reference, knn_tree,
                          tree_candidates)
from bpfn.ops.search_trees import reuse_search_trees


def pytest_generate_tests(metafunc):
    """The tree-search tests on the default k-d tree backend, and again on
    SciPy's where the default is another."""
    name = metafunc.function.__name__
    if 'tree' in name and 'cuda' not in name:
        backends = ['default tree']
        if tree_backend()[0] is not ScipyCloudTree:
            backends.append('scipy tree')
        metafunc.parametrize('kd_tree_backend', backends, indirect=True)


@pytest.fixture(autouse=True)
def kd_tree_backend(request, monkeypatch):
    if getattr(request, 'param', None) == 'scipy tree':
        monkeypatch.setattr(kd_trees, 'tree_backend',
                            lambda: (ScipyCloudTree, 'SciPy cKDTree'))
    return getattr(request, 'param', 'default tree')


@pytest.fixture
def dense_rows(monkeypatch):
    """Query counts of the dense searches the tree search falls back to
    (this module's own ``knn_dense`` stays uncounted)."""
    rows = []

    def counting_dense(k, ref, query, max_elements=None):
        rows.append(query.shape[1])
        return knn_dense(k, ref, query, max_elements)

    monkeypatch.setattr(sys.modules['bpfn.ops.knn'], 'knn_dense',
                        counting_dense)
    return rows


def test_square_distance_matches_definition():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 50, 3, generator=gen)
    b = torch.rand(2, 70, 3, generator=gen)
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
    tree = knn_tree(k, ref, query, **kwargs)
    for a, b in zip(_sets(*dense), _sets(*tree)):
        assert torch.equal(a, b)
    return tree


@pytest.mark.parametrize('k', [1, 3, 16, 40])
@pytest.mark.parametrize('max_elements', [2**20, 3000])
def test_knn_tree_equals_dense(k, max_elements):
    gen = torch.Generator().manual_seed(k)
    # Query counts that are not multiples of the product groups, and small
    # bounds, so that the products run in many chunks.
    ref = torch.rand(2, 1001, 3, generator=gen) * torch.tensor([20., 4, 9])
    query = ref[:, :777] + 0.3 * torch.randn(2, 777, 3, generator=gen)
    _assert_same_neighbours(ref, query, k, max_elements=max_elements)


def test_knn_tree_breaks_ties_as_dense():
    gen = torch.Generator().manual_seed(3)
    # Integer coordinates: most k-th distances tie with the next ones, and
    # only the dense search on those rows reproduces its choice of which
    # tied points to keep.
    ref = torch.randint(0, 12, (2, 900, 3), generator=gen).float()
    query = torch.randint(0, 12, (2, 300, 3), generator=gen).float()
    for k in (5, 16):
        dense = knn(k, ref, query, method='dense')
        tree = knn(k, ref, query, method='tree')
        assert torch.equal(dense.sort(-1)[0], tree.sort(-1)[0])


def test_knn_tree_clustered_and_duplicated_points():
    gen = torch.Generator().manual_seed(4)
    # Two tight clusters far apart, each point repeated: exact duplicates,
    # whose queries the tree cannot separate (searched densely).
    cluster = torch.randn(1, 300, 3, generator=gen) * 0.01
    ref = torch.cat([cluster, cluster + 100., cluster], dim=1)
    query = torch.cat([cluster[:, :100] + 100., cluster[:, 100:200]], dim=1)
    _assert_same_neighbours(ref, query, 7)


def test_knn_tree_large_cloud_and_auto():
    gen = torch.Generator().manual_seed(5)
    ref = torch.rand(1, 4096, 3, generator=gen) * 10
    query = ref + 0.05 * torch.randn(1, 4096, 3, generator=gen)
    idx, dist = _assert_same_neighbours(ref, query, 32, max_elements=2**20)
    assert idx.shape == (1, 4096, 32) and dist.shape == (1, 4096, 32)
    # 4096 x 4096 pairs on CPU: 'auto' takes the tree search.
    auto = knn(32, ref, query, return_dist=True)
    assert torch.equal(auto[0], idx) and torch.equal(auto[1], dist)


def test_knn_tree_non_finite_falls_back_to_dense():
    ref = torch.rand(1, 600, 3)
    query = torch.rand(1, 300, 3)
    query[0, 5, 1] = float('inf')
    dense = knn(4, ref, query, method='dense')
    tree = knn(4, ref, query, method='tree')
    assert torch.equal(dense, tree)


def test_knn_tree_nan_reference_falls_back_to_dense():
    gen = torch.Generator().manual_seed(7)
    ref = torch.rand(2, 700, 3, generator=gen)
    query = torch.rand(2, 300, 3, generator=gen)
    ref[1, 17, 0] = float('nan')
    dense = knn(4, ref, query, method='dense')
    tree = knn(4, ref, query, method='tree')
    assert torch.equal(dense, tree)


@pytest.mark.parametrize('k', [1, 3, 4, 9, 32])
def test_knn_tree_ties_every_path(k):
    # Integer coordinates (many equal distances): the small-k passes of min
    # (k <= 3, ranking k + 1), topk, and the dense re-search of tied rows.
    gen = torch.Generator().manual_seed(10 + k)
    ref = torch.randint(0, 9, (2, 1300, 3), generator=gen).float()
    query = torch.randint(0, 9, (2, 611, 3), generator=gen).float()
    _assert_same_neighbours(ref, query, k)


def test_knn_tree_duplicates_beyond_k():
    gen = torch.Generator().manual_seed(11)
    # Every reference point 5 times, so that the 3 nearest of a query on a
    # point tie among its 5 copies; and queries between clusters.
    base = torch.rand(1, 300, 3, generator=gen) * 4
    ref = base.repeat(1, 5, 1)
    query = torch.cat([base[:, :200], base[:, :200] + 0.01], dim=1)
    _assert_same_neighbours(ref, query, 3)
    _assert_same_neighbours(ref, query, 8)


def test_knn_tree_uneven_density():
    gen = torch.Generator().manual_seed(12)
    # A dense patch inside a sparse cloud: neighbourhoods of very different
    # radii (sparse queries, as after farthest point sampling).
    sparse = torch.rand(1, 1500, 3, generator=gen) * 50
    dense = torch.rand(1, 2500, 3, generator=gen) + 20
    ref = torch.cat([sparse, dense], dim=1)
    query = ref[:, torch.randperm(4000, generator=gen)[:1237]]
    for k in (2, 16, 33):
        _assert_same_neighbours(ref, query, k, max_elements=2**16)


def test_k_smallest_passes_equal_topk():
    gen = torch.Generator().manual_seed(13)
    values = torch.randint(0, 6, (50, 40), generator=gen).float()
    values[:, 30:] = float('inf')  # padding
    values[0] = float('inf')  # a row of padding only
    for k in (1, 2, 4, 5, 9):
        got, pos = _k_smallest(values, k)
        expected = values.topk(k, dim=-1, largest=False)[0]
        assert torch.equal(got.sort(-1)[0], expected.sort(-1)[0])
        # Positions point at those values, each once where finite.
        assert torch.equal(values.gather(1, pos), got)
        finite = torch.isfinite(got).all(-1)
        assert all(len(set(row.tolist())) == k for row in pos[finite])


def test_reused_trees_give_the_same_neighbours():
    gen = torch.Generator().manual_seed(14)
    pair = torch.rand(2, 3000, 3, generator=gen) * 10
    query = pair + 0.1 * torch.randn(2, 3000, 3, generator=gen)
    expected = [knn_dense(k, pair, query)[0].sort(-1)[0] for k in (3, 16)]
    with reuse_search_trees():
        for k, exp in zip((3, 16), expected):
            assert torch.equal(knn(k, pair, query).sort(-1)[0], exp)
        # One cloud of the batch reuses the batch's trees.
        one = knn(16, pair[1:], query[1:]).sort(-1)[0]
        assert torch.equal(one, expected[1][1:])
        # A cloud changed in place gets a new tree.
        pair.mul_(-1)
        assert torch.equal(
            knn(3, pair, query).sort(-1)[0],
            knn_dense(3, pair, query)[0].sort(-1)[0])


def test_knn_reference_path():
    gen = torch.Generator().manual_seed(15)
    ref = torch.rand(2, 3000, 3, generator=gen) * 10
    query = torch.rand(2, 2000, 3, generator=gen) * 10
    idx, dist = knn_reference(8, ref, query)
    dense_idx, dense_dist = knn_dense(8, ref, query)
    assert torch.equal(idx.sort(-1)[0], dense_idx.sort(-1)[0])
    assert torch.equal(dist.sort(-1)[0], dense_dist.sort(-1)[0])
    with reference_algorithms():
        assert torch.equal(knn(8, ref, query), idx)


def test_knn_records_no_graph():
    ref = torch.rand(1, 200, 3, requires_grad=True)
    idx, dist = knn(4, ref * 2, torch.rand(1, 50, 3), return_dist=True)
    assert not dist.requires_grad and idx.dtype == torch.long


def test_knn_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'kdtree'"):
        knn(2, torch.rand(1, 5, 3), torch.rand(1, 3, 3), method='kdtree')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_knn_cuda_is_dense_and_agrees_with_cpu():
    gen = torch.Generator().manual_seed(6)
    ref = torch.rand(2, 3000, 3, generator=gen) * 10
    query = torch.rand(2, 2000, 3, generator=gen) * 10
    idx, dist = knn(16, ref.cuda(), query.cuda(), return_dist=True,
                    max_elements=2**22)
    assert idx.is_cuda and dist.is_cuda
    # 'auto' searches densely on a GPU (chunked under max_elements).
    dense = knn(16, ref.cuda(), query.cuda(), return_dist=True,
                max_elements=2**22, method='dense')
    for a, b in zip(_sets(idx, dist), _sets(*dense)):
        assert torch.equal(a, b)
    # Against the CPU search: the GPU's product rounds differently, so the
    # sorted distances (about 1 here, from squared norms up to 300) agree
    # to float32 rounding rather than bitwise.
    cpu_dist = knn(16, ref, query, return_dist=True)[1]
    torch.testing.assert_close(
        dist.sort(-1)[0].cpu(), cpu_dist.sort(-1)[0], rtol=0, atol=1e-3)


def test_knn_tree_on_a_real_scene(bpfn_reference):
    # Level 1 of the reference scene (its 2048 farthest points), searched in
    # itself: no neighbour twice.
    pc1 = bpfn_reference['pc1']
    level1 = pc1[:, bpfn_reference['fps_idx_pc1'][0][0].long()]
    for k in (3, 9, 16, 32):
        idx, _ = _assert_same_neighbours(level1, level1, k)
        assert (idx.sort(-1)[0].diff(dim=-1) > 0).all()  # no repeats


def test_knn_tree_on_the_full_reference_scene(bpfn_reference, dense_rows):
    # The reference scene's clouds, pc1's points searched in pc2, with and
    # without distances: the dense search's neighbours. Its points lie closer
    # than the float32 rounding of their distances (a third of the queries
    # at k = 3, 9, 16 were uncertain at the first candidate width); wider
    # candidate sets leave fewer than 1% of them to the dense search.
    pc1, pc2 = bpfn_reference['pc1'], bpfn_reference['pc2']
    for k in (3, 9, 16, 32):
        expected = knn_dense(k, pc2, pc1)
        dense_rows.clear()
        tree = knn_tree(k, pc2, pc1)
        assert sum(dense_rows) < 0.01 * pc1.shape[1]
        dense_rows.clear()
        indices_only = knn_tree(k, pc2, pc1, need_dist=False)[0]
        assert sum(dense_rows) < 0.01 * pc1.shape[1]
        for a, b in zip(_sets(*expected), _sets(*tree)):
            assert torch.equal(a, b)
        assert torch.equal(indices_only.sort(-1)[0],
                           expected[0].sort(-1)[0])


def test_candidate_distances_are_the_dense_ones_bitwise():
    # The grouped products of the tree search (4, 8 or 16 queries a group
    # by width) round every distance as the dense search's product does,
    # for every width the search uses, odd query counts (padded groups) and
    # clouds far from the origin, where float32 rounding is coarse.
    knn_module = sys.modules['bpfn.ops.knn']
    gen = torch.Generator().manual_seed(31)
    ref = torch.rand(1, 3000, 3, generator=gen) * 60 + 500
    query = torch.rand(1, 203, 3, generator=gen) * 60 + 500
    dense = square_distance(query, ref)[0]
    ref_sq, query_sq = (ref**2).sum(-1), (query**2).sum(-1)
    # On MKL (the processors seen so far) groups of 4, 8 and 16 rows round
    # as the dense product, so the fewest rows with 256 entries serve.
    assert [knn_module.group_rows(w) for w in (4, 15, 16, 80)] == [8, 8, 4, 4]
    for width in range(tree_candidates(1), 81):
        cand = torch.randint(0, 3000, (1, 203, width), generator=gen)
        dist = knn_module._candidate_distances(ref, query, cand, ref_sq,
                                               query_sq, 2**14)[0]
        assert torch.equal(dist, dense.gather(1, cand[0])), width
    # Smaller groups (not used) round as the dense product on some
    # processors and not on others (1 row did on none seen; 2 rows with 64
    # candidates or more did on one and not on another): the probe decides
    # per machine, and what it approves, at the widths it covers (at least
    # 256 products), must round so on other clouds too.
    for rows, width in ((1, 256), (2, 64), (2, 76)):
        if knn_module._groups_round_as_dense(rows, torch.float32):
            cand = torch.randint(0, 3000, (1, 203, width), generator=gen)
            dist = knn_module._candidate_distances(
                ref, query, cand, ref_sq, query_sq, 2**14, size=rows)[0]
            assert torch.equal(dist, dense.gather(1, cand[0])), (rows, width)


def test_group_sizes_that_round_otherwise_are_not_used(monkeypatch):
    # Where a group size's products do not round as the dense search's (a
    # probe once per process), a larger size serves; where none does, the
    # tree search says so and every search runs densely.
    knn_module = sys.modules['bpfn.ops.knn']
    gen = torch.Generator().manual_seed(32)
    ref = torch.rand(1, 2000, 3, generator=gen) * 10
    query = torch.rand(1, 300, 3, generator=gen) * 10
    expected = knn_dense(16, ref, query)
    monkeypatch.setattr(knn_module, '_groups_round_as_dense',
                        lambda rows, dtype: rows == 16)
    assert [knn_module.group_rows(w) for w in (4, 18, 80)] == [16] * 3
    idx, dist = knn_tree(16, ref, query)
    for a, b in zip(_sets(*expected), _sets(idx, dist)):
        assert torch.equal(a, b)
    monkeypatch.setattr(knn_module, '_groups_round_as_dense',
                        lambda rows, dtype: False)
    knn_module._warn_no_bitwise_groups.cache_clear()
    with pytest.warns(UserWarning, match='every search runs densely'):
        idx, dist = knn_tree(16, ref, query)
    assert torch.equal(idx, expected[0]) and torch.equal(dist, expected[1])


def test_knn_tree_candidates_and_slack():
    # The tree ranks k and a margin of candidates, never fewer than the
    # product's smallest width allows.
    assert tree_candidates(1) == 4 and tree_candidates(3) == 5
    assert tree_candidates(32) == 36
    gen = torch.Generator().manual_seed(16)
    ref = torch.rand(1, 3000, 3, generator=gen) * 10
    query = torch.rand(1, 1000, 3, generator=gen) * 10
    # Far from the origin the float32 distances round more coarsely: the
    # slack grows with the squared norms, more queries are searched
    # densely, and the neighbours stay the dense ones.
    for shift in (0., 1e3):
        _assert_same_neighbours(ref + shift, query + shift, 8)


def _tree_widths(k: int, num_ref: int) -> list:
    """The candidate widths the tree search tries, narrowest first."""
    knn_module = sys.modules['bpfn.ops.knn']
    widths = [tree_candidates(k)]
    while (knn_module.wider_candidates(widths[-1]) <=
           num_ref // knn_module.WIDEST_TREE_FRACTION):
        widths.append(knn_module.wider_candidates(widths[-1]))
    return widths


def test_knn_tree_widens_then_searches_uncertain_queries_densely(
        monkeypatch, dense_rows):
    # A query whose k-th and W-th exact squared distances are within twice
    # the rounding slack may have a neighbour outside its W candidates: it
    # asks the tree for wider sets, and exactly the queries that no allowed
    # width clears go to the dense search.
    gen = torch.Generator().manual_seed(17)
    ref = torch.rand(2, 3000, 3, generator=gen) * 10
    query = torch.rand(2, 500, 3, generator=gen) * 10
    calls, queried = dense_rows, []
    knn_module = sys.modules['bpfn.ops.knn']
    real_trees = knn_module.cloud_trees

    def counting_trees(points):
        trees = real_trees(points)
        for tree in trees:
            query_tree = tree.query
            tree.query = lambda pts, width, threads, f=query_tree: (
                queried.append((len(pts), width)) or f(pts, width, threads))
        return trees

    monkeypatch.setattr(knn_module, 'cloud_trees', counting_trees)
    widths = _tree_widths(4, 3000)
    assert widths == [6, 14, 22, 33, 49, 73, 109, 163]
    for slack in (2**-19, 2**-12, 1.0):
        monkeypatch.setattr(knn_module, 'ROUNDING_SLACK', slack)
        calls.clear()
        queried.clear()
        idx, dist = knn_tree(4, ref, query)
        # Every query of both clouds at the first width, then each cloud's
        # uncertain ones at the wider widths.
        expected_dense, expected_queries = [], [(500, widths[0])] * 2
        for i in range(2):
            bound = slack * ((ref[i]**2).sum(-1).max() +
                             (query[i]**2).sum(-1).max()).double()
            exact = ((query[i, :, None].double() -
                      ref[i, None].double())**2).sum(-1).sort(-1)[0]
            uncertain = exact[:, widths[0] - 1] - exact[:, 3] <= 2 * bound
            for width in widths[1:]:
                if uncertain.any():
                    expected_queries.append((int(uncertain.sum()), width))
                uncertain &= exact[:, width - 1] - exact[:, 3] <= 2 * bound
            if uncertain.any():
                expected_dense.append(int(uncertain.sum()))
        assert queried == expected_queries
        assert calls == expected_dense
        assert torch.equal(idx.sort(-1)[0],
                           knn_dense(4, ref, query)[0].sort(-1)[0])
    assert calls == [500, 500]  # a slack larger than every gap
    assert queried == [(500, widths[0])] * 2 + [
        (500, width) for width in widths[1:]] * 2


def test_knn_tree_refuses_other_devices():
    ref = torch.rand(1, 300, 3, device='meta')
    with pytest.raises(ValueError, match='CPU tensors only'):
        knn_tree(4, ref, ref)


@pytest.mark.parametrize('method', ['dense', 'tree'])
def test_knn_under_autocast_is_the_float32_search(method):
    # --amp on CPU runs the model under bfloat16 autocast: the distance
    # products must still be float32 (in bfloat16 most rows change).
    gen = torch.Generator().manual_seed(18)
    ref = torch.rand(1, 3000, 3, generator=gen) * 30
    query = torch.rand(1, 1500, 3, generator=gen) * 30
    expected = knn(8, ref, query, return_dist=True, method=method)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = knn(8, ref, query, return_dist=True, method=method)
    assert got[1].dtype == torch.float32
    for a, b in zip(got, expected):
        assert torch.equal(a, b)


@pytest.mark.parametrize('k', [1, 3, 9, 32])
def test_knn_tree_indices_only_equal_dense(k):
    # Without distances the settled queries skip the distance products; the
    # neighbour sets stay the dense ones on random, tied (integer) and
    # far-from-the-origin clouds.
    gen = torch.Generator().manual_seed(20 + k)
    random = torch.rand(2, 1500, 3, generator=gen) * 10
    grid = torch.randint(0, 9, (2, 1500, 3), generator=gen).float()
    for ref in (random, grid, random + 1e3):
        query = ref[:, :700] + 0.2 * torch.randn(2, 700, 3, generator=gen)
        idx, dist = knn_tree(k, ref, query, need_dist=False)
        assert dist is None
        dense = knn_dense(k, ref, query)[0]
        assert torch.equal(idx.sort(-1)[0], dense.sort(-1)[0])
        assert torch.equal(knn(k, ref, query, method='tree'), idx)


def test_knn_tree_ranks_only_unsettled_queries(monkeypatch):
    # Exactly the queries whose k-th and (k+1)-th exact squared distances
    # are within twice the rounding slack (and whose candidates are
    # certain) get candidate distances when none are asked for.
    gen = torch.Generator().manual_seed(18)
    ref = torch.rand(1, 3000, 3, generator=gen) * 10
    query = torch.rand(1, 600, 3, generator=gen) * 10
    knn_module = sys.modules['bpfn.ops.knn']
    ranked = []
    real = knn_module._candidate_distances

    def counting(ref, query, cand, *args):
        ranked.append(query.shape[1])
        return real(ref, query, cand, *args)

    monkeypatch.setattr(knn_module, '_candidate_distances', counting)
    k = 4
    widths = _tree_widths(k, 3000)
    for slack in (2**-12, 2**-16):
        monkeypatch.setattr(knn_module, 'ROUNDING_SLACK', slack)
        ranked.clear()
        idx, _ = knn_tree(k, ref, query, need_dist=False)
        bound = 2 * slack * ((ref[0]**2).sum(-1).max() +
                             (query[0]**2).sum(-1).max()).double()
        exact = ((query[0, :, None].double() -
                  ref[0, None].double())**2).sum(-1).sort(-1)[0]
        clears = [exact[:, w - 1] - exact[:, k - 1] > bound for w in widths]
        unsettled = (exact[:, k] - exact[:, k - 1] <= bound) & clears[0]
        # Queries first cleared by each wider width, ranked in their own
        # groups.
        widened = [int((now & ~before).sum())
                   for before, now in zip(clears, clears[1:])]
        widened = [count for count in widened if count]
        assert 0 < int(unsettled.sum()) < 600
        assert ranked == [int(unsettled.sum())] + widened
        assert torch.equal(idx.sort(-1)[0],
                           knn_dense(k, ref, query)[0].sort(-1)[0])
        # Asked for distances, every certain query is ranked.
        ranked.clear()
        knn_tree(k, ref, query)
        assert ranked == [int(clears[0].sum())] + widened
