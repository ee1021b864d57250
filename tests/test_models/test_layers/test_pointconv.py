"""PointConv layers: bpfn's computation against the original's."""
import pytest
import torch

from bpfn.models.layers import DecreasedLinear, PointConv, PointConvDown
from bpfn.ops import chunking, reference_algorithms
from bpfn.models.layers import pointconv as pointconv_module


def _cloud(seed, num=150, channels=10):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(2, num, 3, generator=gen) * 3,
            torch.randn(2, num, channels, generator=gen))


def assert_gradients_close(got, expected):
    # Biases in front of BatchNorm get gradients that cancel to about 0: an
    # absolute tolerance on the scale of all the gradients.
    scale = max(t.abs().max().item() for t in expected)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)


def _run(layer, xyz, feats, reference, xyz_grad=False):
    xyz = xyz.clone().requires_grad_(xyz_grad)
    feats = feats.clone().requires_grad_()
    layer.zero_grad()
    with reference_algorithms(reference):
        out = layer(xyz, feats)
    out = out[1] if isinstance(out, tuple) else out
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    grads = [feats.grad] + [xyz.grad] * xyz_grad + [
        p.grad for p in layer.parameters() if p.requires_grad]
    return out.detach(), grads


@pytest.mark.parametrize('mid', [16, 8, 4])
@pytest.mark.parametrize('use_bn', [False, True])
@pytest.mark.parametrize('xyz_grad', [False, True])
def test_pointconv_equals_the_original_computation(mid, use_bn, xyz_grad):
    torch.manual_seed(mid)
    layer = PointConv(7, 13, 9, mid, use_bn=use_bn)
    xyz, feats = _cloud(mid)
    fast, fast_grads = _run(layer, xyz, feats, False, xyz_grad)
    ref, ref_grads = _run(layer, xyz, feats, True, xyz_grad)
    assert fast.shape == (2, 150, 9)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    assert_gradients_close(fast_grads, ref_grads)


@pytest.mark.parametrize('linear_type', ['Linear', 'DecreasedLinear'])
def test_pointconv_down_equals_the_original_computation(linear_type):
    torch.manual_seed(0)
    layer = PointConvDown(40, 8, 13, 32, 16, linear_type=linear_type)
    xyz, feats = _cloud(3)
    with torch.no_grad():
        fast = layer(xyz, feats)
        with reference_algorithms():
            ref = layer(xyz, feats)
    assert torch.equal(fast[0], ref[0]) and torch.equal(fast[2], ref[2])
    torch.testing.assert_close(fast[1], ref[1], rtol=1e-5, atol=1e-5)
    fast_out, fast_grads = _run(layer, xyz, feats, False)
    ref_out, ref_grads = _run(layer, xyz, feats, True)
    assert_gradients_close(fast_grads, ref_grads)


def test_decreased_linear_equals_its_convolutions():
    torch.manual_seed(1)
    layer = DecreasedLinear(13, 4, 12)
    x = torch.randn(2, 5, 13, 4)
    expected = layer.pointwise(layer.depthwise(x.transpose(1, 2)))
    expected = expected.transpose(1, 2).reshape(2, 5, 12)
    torch.testing.assert_close(layer(x), expected, rtol=1e-6, atol=1e-6)
    with reference_algorithms():
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)


def test_chunks_and_product_batches_change_nothing(monkeypatch):
    torch.manual_seed(2)
    layer = PointConv(7, 13, 9, 4).eval()
    xyz, feats = _cloud(4)
    with torch.no_grad():
        whole = layer(xyz, feats)
        monkeypatch.setattr(chunking, 'CPU_CHUNK_ELEMENTS', 500)
        monkeypatch.setattr(pointconv_module, 'MAX_PRODUCTS', 3)
        chunked = layer(xyz, feats)
    torch.testing.assert_close(whole, chunked, rtol=1e-6, atol=1e-6)


def test_hooked_linear_runs_as_its_module():
    """With few weight-net channels the linear layer takes (W, C)-ordered
    aggregates through a reordered weight; a hook on it (a distillation
    tap) makes it run as its module instead, with the same results."""
    torch.manual_seed(0)
    layer = PointConv(7, 13, 9, 4)
    xyz, feats = _cloud(4)
    plain, plain_grads = _run(layer, xyz, feats, False, True)
    seen = []
    handle = layer.linear.register_forward_hook(
        lambda m, a, o: seen.append(tuple(a[0].shape)))
    hooked, hooked_grads = _run(layer, xyz, feats, False, True)
    handle.remove()
    assert seen == [(2, 150, 13 * 4)]
    torch.testing.assert_close(hooked, plain, rtol=1e-5, atol=1e-5)
    assert_gradients_close(hooked_grads, plain_grads)
