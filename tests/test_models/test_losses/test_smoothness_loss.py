"""SmoothnessLoss: PointPWC-Net's smoothness term by hand."""
import math

import pytest
import torch

from bpfn.models.losses import SmoothnessLoss, flow_smoothness
from bpfn.registry import MODELS


def _line():
    pc1 = torch.tensor([[[0., 0., 0.], [1., 0., 0.], [3., 0., 0.]]])
    flow = torch.tensor([[[0., 0., 0.], [1., 0., 0.], [1., 2., 0.]]])
    return pc1, flow


def test_smoothness_by_hand():
    pc1, flow = _line()
    # k=2: each point and its nearest other point: 0<->1, 1->0, 2->1;
    # |f0 - f1| + |f1 - f0| + |f2 - f1| = 1 + 1 + 2, divided by k - 1 = 1.
    assert flow_smoothness(pc1, flow, k=2).item() == pytest.approx(4.0)
    # k=3: every pair, each ordered pair once, divided by 2:
    # 2 * (|f0-f1| + |f0-f2| + |f1-f2|) / 2 = 1 + sqrt(5) + 2.
    assert flow_smoothness(pc1, flow, k=3).item() == pytest.approx(
        3 + math.sqrt(5))
    # A rigid translation is perfectly smooth, with finite gradients.
    shift = torch.tensor([[[0.3, -0.2, 0.5]]]).expand(1, 3, 3).clone()
    shift.requires_grad_(True)
    value = flow_smoothness(pc1, shift, k=3)
    assert value.item() == 0.0
    value.backward()
    assert torch.isfinite(shift.grad).all()


def test_module_defaults_levels_and_batch():
    loss = MODELS.build(dict(type='SmoothnessLoss'))
    assert isinstance(loss, SmoothnessLoss)
    assert loss.k == 9 and loss.loss_weight == 1.0
    assert loss.alpha == (0.02, 0.04, 0.08, 0.16)
    pc1, flow = _line()
    pc1b, flowb = torch.cat([pc1, pc1]), torch.cat([flow, 2 * flow])
    # Per sample 3 + sqrt(5) and twice that; levels 0 and 1 weigh 0.06.
    module = SmoothnessLoss(k=3, loss_weight=0.5)
    value = module([pc1b, pc1b], [pc1b, pc1b], [flowb, flowb])
    assert value.item() == pytest.approx(
        0.5 * 0.06 * 1.5 * (3 + math.sqrt(5)))
    with pytest.raises(ValueError, match='k must be >= 2'):
        SmoothnessLoss(k=1)
