import torch

from bpfn.ops.search_trees import (all_finite, cloud_trees,
                                   reuse_search_trees, squared_norms)


def test_cloud_trees_index_each_cloud():
    gen = torch.Generator().manual_seed(0)
    pair = torch.rand(2, 500, 3, generator=gen)
    trees = cloud_trees(pair)
    assert len(trees) == 2
    for tree, cloud in zip(trees, pair):
        # The tree holds the cloud's points, in their order.
        assert torch.equal(torch.from_numpy(tree.data).float(), cloud)
    # Its exact neighbours are the brute-force ones.
    sq_dist, idx = trees[1].query(pair[1, :5].numpy(), 3, 1)
    brute = ((pair[1, :5, None] - pair[1, None])**2).sum(-1).topk(
        3, largest=False)[1]
    assert torch.equal(torch.from_numpy(idx), brute)


def test_cloud_trees_are_reused_per_cloud():
    gen = torch.Generator().manual_seed(1)
    pair = torch.rand(2, 500, 3, generator=gen)
    with reuse_search_trees():
        both = cloud_trees(pair)
        assert all(a is b for a, b in zip(cloud_trees(pair), both))
        # Each cloud of the batch is indexed once: a slice gets its tree.
        assert cloud_trees(pair[1:])[0] is both[1]
        # In-place changes are seen.
        pair[0, 0] += 100.
        moved = cloud_trees(pair)
        assert moved[0] is not both[0]
        assert moved[0].data[0, 0] >= 100.
        with reuse_search_trees():  # nested: the same cache
            assert cloud_trees(pair)[0] is moved[0]
        norms = squared_norms(pair)
        assert squared_norms(pair) is norms
        assert torch.equal(norms, torch.sum(pair**2, -1))
        assert all_finite(pair) and all_finite(pair) is True
    # Outside the context nothing is kept.
    assert cloud_trees(pair)[0] is not cloud_trees(pair)[0]
    assert squared_norms(pair) is not squared_norms(pair)


def test_cloud_trees_of_inference_tensors_are_not_reused():
    with torch.inference_mode():
        points = torch.rand(1, 300, 3)
    with reuse_search_trees():
        assert cloud_trees(points)[0] is not cloud_trees(points)[0]
