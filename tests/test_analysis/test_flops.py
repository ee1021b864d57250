"""Tests of bpfn/analysis/flops.py: counts worked by hand, the FPS
stand-in and the published teacher numbers."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from torch import nn

from bpfn.analysis import (count_flops, evenly_spaced_sample,
                           sampler_stand_in)
from bpfn.models.layers.conv_block import pointwise
from bpfn.registry import MODELS


class ToyFlowNet(nn.Module):
    """Every counted operator once, with hand-computable counts."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 1)  # module conv, bias
        self.act = nn.LeakyReLU(0.1)
        self.pw = nn.Conv2d(4, 5, 1)  # applied through F.linear, bias
        self.fc = nn.Linear(5, 6)  # nn.Linear: thop skips its bias
        self.bn = nn.BatchNorm1d(6)

    def extract(self, pc1: torch.Tensor, pc2: torch.Tensor) -> dict:
        x = self.act(self.conv(pc1.transpose(1, 2)))  # B,4,N
        y = F.relu(pointwise(self.pw, x.transpose(1, 2)))  # B,N,5
        z = self.bn(self.fc(y).transpose(1, 2))  # B,6,N
        gram = torch.matmul(pc1, pc2.transpose(1, 2))  # B,N,N
        flow = z[:, :3] + gram.sum(-1).unsqueeze(1)
        return dict(flows=[flow])


def test_hand_computed_count():
    n = 10
    result = count_flops(ToyFlowNet(), num_points=n)
    conv = n * 4 * 3 + n * 4  # MACs + bias
    leaky = n * 4
    pw = n * 5 * 4 + n * 5  # MACs + bias (a conv for thop)
    fc = n * 6 * 5  # MACs only
    bn = 2 * n * 6
    matmul = n * n * 3
    assert result.flops == conv + leaky + pw + fc + bn
    assert result.flops_all == n * 4 * 3 + n * 5 * 4 + n * 6 * 5 + matmul
    assert result.params == sum(p.numel() for p in ToyFlowNet().parameters())


def small_bpfn():
    init_default_scope('bpfn')
    return MODELS.build(
        dict(type='BiPointFlowNet', num_points=[128, 64, 32, 16]))


def test_fps_stand_in_gives_the_exact_count():
    model = small_bpfn()
    fast = count_flops(model, num_points=256)
    exact = count_flops(model, num_points=256, exact_fps=True)
    assert fast.flops == exact.flops
    assert fast.flops_all == exact.flops_all
    assert fast.flops > 0 and fast.flops_all > fast.flops * 0.5


def test_sampler_switch_is_per_layer_and_restored():
    """The stand-in sets the downsampling layers' ``sampler`` of one model
    only and restores it; the layer module's globals are never changed."""
    from bpfn.models.layers import PointConvDown, pointconv
    from bpfn.ops import furthest_point_sample
    model, other = small_bpfn(), small_bpfn()
    layers = [m for m in model.modules() if isinstance(m, PointConvDown)]
    assert len(layers) >= 4
    assert all(layer.sampler is furthest_point_sample for layer in layers)
    with sampler_stand_in(model):
        assert all(layer.sampler is evenly_spaced_sample
                   for layer in layers)
        assert all(m.sampler is furthest_point_sample
                   for m in other.modules() if isinstance(m, PointConvDown))
        assert pointconv.furthest_point_sample is furthest_point_sample
        xyz = torch.rand(2, 10, 3)
        idx = layers[0].sampler(xyz, 4)
        assert idx.tolist() == [[0, 2, 5, 7]] * 2
    assert all(layer.sampler is furthest_point_sample for layer in layers)
    count_flops(model, num_points=256)
    assert all(layer.sampler is furthest_point_sample for layer in layers)


def test_teacher_published_convention():
    """The published table: 13.36G FLOPs and 7.96M parameters at 8192;
    all ops 14.82G (the README's table), the same with the reference
    algorithms switched on or off around the count."""
    from bpfn.ops import reference_algorithms
    init_default_scope('bpfn')
    model = MODELS.build(dict(type='BiPointFlowNet'))
    result = count_flops(model, num_points=8192)
    assert result.params == 7_958_604
    assert result.flops == pytest.approx(13.36e9, rel=0.01)
    assert result.flops == 13_359_665_408
    # Conv and linear multiply-adds (13,123,784,704) plus the matmuls of the
    # weight nets and of the kNN distance matrices.
    assert result.flops_all == 14_816_751_616
    with reference_algorithms(True):
        assert count_flops(model, num_points=8192).flops_all == \
            result.flops_all
