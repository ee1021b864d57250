"""ChamferLoss: PointPWC-Net's Chamfer term, by hand and by brute force."""
import importlib

import pytest
import torch

from bpfn.models.losses import (ChamferLoss, chamfer_distance, chamfer_loss,
                                nearest_sq_distances)

# The module (bpfn.ops.knn is also the name of the function).
knn_module = importlib.import_module('bpfn.ops.knn')


def _tiny():
    pc1 = torch.tensor([[[0., 0., 0.], [1., 0., 0.]]])
    flow = torch.tensor([[[0.1, 0., 0.], [0., 0., 0.]]])
    pc2 = torch.tensor([[[0., 0., 0.], [1., 0.2, 0.], [3., 0., 0.]]])
    return pc1, pc2, flow


def test_chamfer_by_hand():
    pc1, pc2, flow = _tiny()
    flow.requires_grad_(True)
    # Warped: (0.1, 0, 0) and (1, 0, 0).
    # pc1' -> pc2: 0.1^2 (to the origin) + 0.2^2 (to (1, 0.2, 0)) = 0.05
    # pc2 -> pc1': 0.1^2 + 0.2^2 + 2^2 ((3, 0, 0) to (1, 0, 0)) = 4.05
    d12, d21 = chamfer_distance(pc1 + flow, pc2)
    assert d12[0].tolist() == pytest.approx([0.01, 0.04])
    assert d21[0].tolist() == pytest.approx([0.01, 0.04, 4.0])
    loss = chamfer_loss(pc1, pc2, flow)
    assert loss.shape == (1, )
    assert loss.item() == pytest.approx(4.1)
    loss.sum().backward()
    # d/df0 of (w0 - 0)^2 in both directions: 2 * 2 * 0.1 along x.
    assert flow.grad[0, 0].tolist() == pytest.approx([0.4, 0.0, 0.0])
    # w1 = (1, 0, 0): twice (1, 0.2, 0) -> -0.4 y, and (3, 0, 0) -> -4 x.
    assert flow.grad[0, 1].tolist() == pytest.approx([-4.0, -0.8, 0.0])


def test_multi_scale_weights_and_batch_mean():
    pc1, pc2, flow = _tiny()
    # Second sample: the first cloud moved onto the second's first two
    # points, which leaves (3, 0, 0), nearest (1, 0.2, 0): 2^2 + 0.2^2.
    pc1b = torch.cat([pc1, pc1])
    flowb = torch.cat([flow, pc2[:, :2] - pc1])
    pc2b = torch.cat([pc2, pc2])
    assert chamfer_loss(pc1b, pc2b, flowb).tolist() == pytest.approx(
        [4.1, 4.04])
    loss = ChamferLoss(loss_weight=2.0)
    assert loss.loss_weight == 2.0 and ChamferLoss().loss_weight == 1.0
    # Two levels with the same clouds: 2 * (0.02 + 0.04) * mean(4.1, 4.04).
    value = loss([pc1b, pc1b], [pc2b, pc2b], [flowb, flowb])
    assert value.item() == pytest.approx(2 * 0.06 * 4.07)
    with pytest.raises(ValueError, match='level 0 flow'):
        loss([pc1b], [pc2b], [flowb[:, :1]])
    with pytest.raises(ValueError, match='5 flow levels'):
        loss([pc1b] * 5, [pc2b] * 5, [flowb] * 5)


def test_nearest_matches_brute_force_when_chunked(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 300, 3, generator=gen)
    b = torch.rand(2, 200, 3, generator=gen)
    brute = torch.cdist(a, b).pow(2).min(dim=2).values
    # Tiny chunks of queries: the search runs in many pieces.
    monkeypatch.setattr(knn_module, 'CPU_MAX_ELEMENTS', 1000)
    assert torch.allclose(nearest_sq_distances(a, b), brute, atol=1e-6)
