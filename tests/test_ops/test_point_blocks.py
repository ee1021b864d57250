import pytest
import torch

from bpfn.ops.point_blocks import kd_blocks


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
