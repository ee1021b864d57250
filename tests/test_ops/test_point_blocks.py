import pytest
import torch

from bpfn.ops.point_blocks import (all_finite, cloud_blocks, kd_blocks,
                                   reuse_point_blocks)


@pytest.mark.parametrize('num, block_size', [(1000, 16), (1024, 16),
                                             (17, 16), (10, 16), (777, 8)])
def test_kd_blocks_partition_the_cloud(num, block_size):
    gen = torch.Generator().manual_seed(num)
    points = torch.rand(2, num, 3, generator=gen) * torch.tensor([30., 2, 9])
    sq = (points**2).sum(-1)
    blocks = kd_blocks(points, sq, block_size)
    batch, num_blocks, size = blocks.order.shape
    assert size <= block_size and num_blocks * size >= num
    # Blocks hold at least half a block, so padding stays below one point
    # per block.
    assert num_blocks * size - num < num_blocks
    for b in range(2):
        real = blocks.order[b][blocks.valid[b]]
        # Every point exactly once among the real entries.
        assert torch.equal(real.sort()[0], torch.arange(num))
        # Padding repeats real points.
        assert torch.equal(blocks.points[b],
                           points[b][blocks.order[b].flatten()].view(
                               num_blocks, size, 3))
        assert torch.equal(blocks.sq_norms[b], sq[b][blocks.order[b]])
    # Boxes hold their points.
    assert (blocks.points >= blocks.lower.unsqueeze(2)).all()
    assert (blocks.points <= blocks.upper.unsqueeze(2)).all()


def test_kd_blocks_are_compact():
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(1, 4096, 3, generator=gen) * 16
    blocks = kd_blocks(points, (points**2).sum(-1), 16)
    # 256 blocks of a 16^3 cube, cut in halves along the longest side: each
    # box is about 16 / 256^(1/3) = 2.5 wide, far below the cloud's 16.
    extent = (blocks.upper - blocks.lower).amax(-1)
    assert blocks.order.shape[1] == 256
    assert extent.max() < 6.0


def test_cloud_blocks_are_reused_per_cloud():
    gen = torch.Generator().manual_seed(1)
    pair = torch.rand(2, 500, 3, generator=gen)
    outside = cloud_blocks(pair, 16)
    with reuse_point_blocks():
        both = cloud_blocks(pair, 16)
        assert cloud_blocks(pair, 16) is both  # the same object again
        # Each cloud of the batch is cut once: a slice gets the same blocks.
        second = cloud_blocks(pair[1:], 16)
        for a, b in zip(second, both):
            assert torch.equal(a, b[1:])
        assert cloud_blocks(pair[1:], 16) is second
        # Another block size is another structure.
        assert cloud_blocks(pair, 8).order.shape[2] <= 8
        # In-place changes are seen.
        pair[0, 0] += 100.
        moved = cloud_blocks(pair, 16)
        assert moved is not both
        assert moved.upper[0].amax() >= 100.
        with reuse_point_blocks():  # nested: the same cache
            assert cloud_blocks(pair, 16) is moved
        assert all_finite(pair) and all_finite(pair) is True
    # Outside the context nothing is kept.
    assert cloud_blocks(pair, 16) is not cloud_blocks(pair, 16)
    for a, b in zip(outside, both):
        assert torch.equal(a, b)


def test_cloud_blocks_of_inference_tensors_are_not_reused():
    with torch.inference_mode():
        points = torch.rand(1, 300, 3)
    with reuse_point_blocks():
        assert cloud_blocks(points, 16) is not cloud_blocks(points, 16)
