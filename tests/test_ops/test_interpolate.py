import torch

from bpfn.ops import (interpolate_three_nn, three_interpolate,
                      three_nn_weights, warp_backward)


def brute_force_interpolate(query, ref, values):
    """Per-point loop: inverse-distance weights of the three nearest."""
    out = torch.zeros(query.shape[0], query.shape[1], values.shape[2])
    for b in range(query.shape[0]):
        for i in range(query.shape[1]):
            dist = torch.norm(ref[b] - query[b, i], dim=-1)
            near = torch.argsort(dist)[:3]
            inv = 1.0 / dist[near].clamp(min=1e-10)
            out[b, i] = (values[b][near] * (inv / inv.sum())[:, None]).sum(0)
    return out


def test_interpolation_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    query = torch.rand(2, 40, 3, generator=gen)
    ref = torch.rand(2, 15, 3, generator=gen)
    values = torch.randn(2, 15, 4, generator=gen)
    got = interpolate_three_nn(query, ref, values)
    assert torch.allclose(got, brute_force_interpolate(query, ref, values),
                          atol=1e-5)
    _, weight = three_nn_weights(query, ref)
    assert torch.allclose(weight.sum(-1), torch.ones(2, 40))


def test_interpolation_at_reference_points_is_exact():
    gen = torch.Generator().manual_seed(1)
    ref = torch.rand(1, 20, 3, generator=gen)
    values = torch.randn(1, 20, 3, generator=gen)
    idx, weight = three_nn_weights(ref, ref)
    assert torch.allclose(three_interpolate(values, idx, weight), values,
                          atol=1e-5)


def test_warp_backward_undoes_a_rigid_shift():
    gen = torch.Generator().manual_seed(2)
    xyz1 = torch.rand(1, 64, 3, generator=gen)
    shift = torch.tensor([0.3, -0.2, 0.5])
    xyz2 = xyz1 + shift
    flow = shift.view(1, 1, 3).expand(1, 64, 3)
    assert torch.allclose(warp_backward(xyz1, xyz2, flow), xyz1, atol=1e-5)
