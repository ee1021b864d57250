import pytest
import torch

from bpfn.ops.chunking import cat_chunks, point_chunks


@pytest.mark.parametrize('num, per_point, budget',
                         [(10, 3, 9), (10, 3, 1), (7, 1, 100), (0, 5, 10)])
def test_point_chunks_cover_in_bounded_slices(num, per_point, budget):
    parts = list(point_chunks(num, per_point, budget))
    covered = [i for part in parts for i in range(num)[part]]
    assert covered == list(range(num))
    for part in parts:
        size = part.stop - part.start
        # At least one point per chunk, otherwise within the budget.
        assert size == 1 or size * per_point <= budget


def test_cat_chunks_keeps_a_single_chunk_as_it_is():
    one = torch.arange(6.).view(2, 3)
    assert cat_chunks([one], dim=1) is one  # no copy
    two = cat_chunks([one, one + 6], dim=1)
    assert torch.equal(two, torch.cat([one, one + 6], dim=1))
    assert torch.equal(cat_chunks((one, one), dim=0)[2:], one)
