import pytest
import torch
import torch.nn.functional as F

from bpfn.models.layers import WeightNet


@pytest.mark.parametrize('use_bn', [False, True])
def test_weight_net_equals_its_convolutions(use_bn):
    torch.manual_seed(0)
    net = WeightNet(3, 6, (8, 5), use_bn=use_bn).train()
    rel = torch.randn(2, 11, 7, 3, requires_grad=True)
    out = net(rel)
    # The original layout: (B, 3, K, S) through 1x1 convolutions.
    x = rel.permute(0, 3, 2, 1)
    for conv, bn in zip(net.mlp_convs, net.mlp_bns):
        x = conv(x)
        x = F.relu(bn(x) if use_bn else x)
    expected = x.permute(0, 3, 2, 1)
    assert out.shape == (2, 11, 7, 6)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, [rel] + list(net.mlp_convs.parameters()),
                              grad)
    want = torch.autograd.grad(expected,
                               [rel] + list(net.mlp_convs.parameters()), grad)
    # Biases in front of BatchNorm get gradients that cancel to about 0: an
    # absolute tolerance on the scale of all the gradients.
    scale = max(t.abs().max().item() for t in want)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)
    assert net.out_channels == 6
