import pytest
import torch

from bpfn.ops import furthest_point_sample
from bpfn.ops.furthest_point_sample import furthest_point_sample_brute_force


@pytest.mark.parametrize('num_points,num_samples', [(64, 16), (300, 97)])
def test_fps_matches_brute_force(num_points, num_samples):
    gen = torch.Generator().manual_seed(num_points)
    xyz = torch.rand(3, num_points, 3, generator=gen) * 20 - 10
    idx = furthest_point_sample(xyz, num_samples)
    assert idx.shape == (3, num_samples) and idx.dtype == torch.long
    assert torch.equal(idx, furthest_point_sample_brute_force(xyz, num_samples))
    # Starts at index 0 and never picks a point twice.
    assert (idx[:, 0] == 0).all()
    assert all(len(set(row.tolist())) == num_samples for row in idx)


def test_fps_ties_pick_first_index():
    # Points 1 and 2 are equally far from point 0: the first index wins.
    xyz = torch.tensor([[[0., 0, 0], [1, 0, 0], [-1, 0, 0], [0.1, 0, 0]]])
    assert furthest_point_sample(xyz, 2).tolist() == [[0, 1]]


def test_fps_too_many_samples():
    with pytest.raises(ValueError, match='cannot pick 5 points'):
        furthest_point_sample(torch.rand(1, 4, 3), 5)
