"""LaplacianLoss: PointPWC-Net's Laplacian regularity by hand and against a
dense brute-force form of its equations."""
import pytest
import torch

from bpfn.models.losses import (LaplacianLoss, interpolate_inverse_sq,
                                laplacian_regularity, point_laplacian)
from bpfn.ops import knn

TRIANGLE = torch.tensor([[[0., 0., 0.], [1., 0., 0.], [0., 1., 0.]]])


def test_point_laplacian_by_hand():
    idx = knn(3, TRIANGLE, TRIANGLE)  # every point, itself included
    lap = point_laplacian(TRIANGLE, idx)
    # (sum_j p_j - 3 p_i) / 2 with sum_j p_j = (1, 1, 0).
    expected = torch.tensor([[[0.5, 0.5, 0.], [-1., 0.5, 0.],
                              [0.5, -1., 0.]]])
    assert torch.allclose(lap, expected)


def test_inverse_square_interpolation_by_hand():
    query = torch.zeros(1, 1, 3)
    ref = torch.tensor([[[1., 0., 0.], [0., 2., 0.], [5., 5., 5.]]])
    values = torch.tensor([[[1.], [2.], [100.]]])
    # d^2 = 1 and 4: weights 1 / 1 and 1 / 4, normalised 0.8 and 0.2.
    out = interpolate_inverse_sq(query, ref, values, k=2)
    assert out.item() == pytest.approx(0.8 * 1 + 0.2 * 2, rel=1e-6)


def test_regularity_by_hand():
    # pc2 is the triangle scaled by 1.5 and flow 0: L(Q) = 1.5 L(P), each
    # warped point's nearest pc2 point is its own image (interp_k=1), so
    # E_L = sum_i ||0.5 L(P)_i||^2 = 0.25 * (0.5 + 1.25 + 1.25) = 0.75.
    flow = torch.zeros_like(TRIANGLE)
    value = laplacian_regularity(TRIANGLE, 1.5 * TRIANGLE, flow, k=3,
                                 interp_k=1)
    assert value.item() == pytest.approx(0.75)
    # Any rigid translation onto pc2 keeps the shape: no loss.
    shift = torch.tensor([0.4, -0.3, 2.0])
    value = laplacian_regularity(TRIANGLE, TRIANGLE + shift,
                                 shift.expand(1, 3, 3), k=3, interp_k=2)
    assert value.item() == pytest.approx(0.0, abs=1e-10)


def _dense_reference(pc1, pc2, flow, k=10, interp_k=5):
    """PointPWC-Net's equations with dense distance matrices and top-k."""
    warped = pc1 + flow

    def lap(points, nbr_of):
        idx = torch.cdist(nbr_of, nbr_of).topk(k, largest=False).indices
        grouped = torch.stack([points[b][idx[b]] for b in range(len(idx))])
        return (grouped - points.unsqueeze(2)).sum(2) / (k - 1)

    lap_w = lap(warped, pc1)
    lap2 = lap(pc2, pc2)
    sq = torch.cdist(warped, pc2).pow(2)
    dist, idx = sq.topk(interp_k, largest=False)
    w = 1 / (dist + 1e-8)
    w = w / w.sum(-1, keepdim=True)
    grouped = torch.stack([lap2[b][idx[b]] for b in range(len(idx))])
    inter = (w.unsqueeze(-1) * grouped).sum(2)
    return (inter - lap_w).pow(2).sum(-1).sum(-1)


def test_matches_dense_reference_and_levels():
    gen = torch.Generator().manual_seed(0)
    pc1 = torch.rand(2, 64, 3, generator=gen, dtype=torch.float64)
    pc2 = pc1 + 0.05 * torch.randn(2, 64, 3, generator=gen,
                                   dtype=torch.float64)
    flow = 0.03 * torch.randn(2, 64, 3, generator=gen, dtype=torch.float64)
    ours = laplacian_regularity(pc1, pc2, flow)
    assert torch.allclose(ours, _dense_reference(pc1, pc2, flow))
    loss = LaplacianLoss()
    assert (loss.k, loss.interp_k, loss.loss_weight) == (10, 5, 0.3)
    value = loss([pc1, pc1[:, :32]], [pc2, pc2[:, :32]],
                 [flow, flow[:, :32]])
    expected = 0.3 * (0.02 * ours.mean() + 0.04 * laplacian_regularity(
        pc1[:, :32], pc2[:, :32], flow[:, :32]).mean())
    assert value.item() == pytest.approx(expected.item())
