"""Cross layer: bpfn's channel-last computation against the original's."""
import pytest
import torch

from bpfn.models.layers import BidirectionalCrossLayer
from bpfn.models.layers import cross_layer as cross_layer_module
from bpfn.ops import chunking, knn, reference_algorithms


def _inputs(seed=0, n1=120, n2=97, channels=6):
    gen = torch.Generator().manual_seed(seed)
    xyz1 = torch.rand(2, n1, 3, generator=gen) * 4
    xyz2 = torch.rand(2, n2, 3, generator=gen) * 4
    feats1 = torch.randn(2, n1, channels, generator=gen)
    feats2 = torch.randn(2, n2, channels, generator=gen)
    return xyz1, xyz2, feats1, feats2


def _layer():
    torch.manual_seed(0)
    return BidirectionalCrossLayer(8, 6, [5, 5], [5, 7])


def assert_gradients_close(got, expected):
    # Biases in front of BatchNorm get gradients that cancel to about 0: an
    # absolute tolerance on the scale of all the gradients.
    scale = max(t.abs().max().item() for t in expected)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)


def _run(layer, inputs, reference):
    inputs = [t.clone().requires_grad_() for t in inputs]
    layer.zero_grad()
    with reference_algorithms(reference):
        outs = layer(*inputs)
    sum((o * torch.linspace(-1, 2, o.numel()).view_as(o)).sum()
        for o in outs).backward()
    grads = [t.grad for t in inputs] + [
        p.grad for p in layer.parameters() if p.requires_grad]
    return [o.detach() for o in outs], grads


def test_outputs_and_gradients_equal_the_original_computation():
    layer, inputs = _layer(), _inputs()
    fast, fast_grads = _run(layer, inputs, False)
    ref, ref_grads = _run(layer, inputs, True)
    assert [o.shape for o in fast] == [(2, 120, 5), (2, 97, 5), (2, 120, 7)]
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # Gradients of the inputs (the second cloud's positions included) and of
    # every trainable parameter.
    assert len(fast_grads) == len(ref_grads) > 4
    assert_gradients_close(fast_grads, ref_grads)


def test_chunks_and_given_neighbours_change_nothing(monkeypatch):
    layer, inputs = _layer().eval(), _inputs(1)
    with torch.no_grad():
        whole = layer(*inputs)
        idx12 = knn(8, inputs[1], inputs[0])
        idx21 = knn(8, inputs[0], inputs[1])
        given = layer(*inputs, idx12=idx12, idx21=idx21)
        monkeypatch.setattr(chunking, 'CPU_CHUNK_ELEMENTS', 300)
        chunked = layer(*inputs)
    for a, b, c in zip(whole, given, chunked):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('shift', [0., -3.])
def test_activation_after_the_max_equals_the_graph_path_bitwise(shift):
    # Without autograd the last block's leaky ReLU runs after the max over
    # the neighbours; with autograd, before it, as the original. A leaky
    # ReLU is non-decreasing, so both give the same floats; the shift makes
    # most pre-activations negative (where the slope acts).
    layer, inputs = _layer().eval(), list(_inputs(3))
    inputs[2], inputs[3] = inputs[2] + shift, inputs[3] + shift
    with torch.no_grad():
        late = layer(*inputs)
    graph = layer(*[t.clone().requires_grad_() for t in inputs])
    assert graph[2].requires_grad
    assert (graph[2] < 0).any()
    for a, b in zip(late, graph):
        assert torch.equal(a, b.detach())

    # A hooked last block (a distillation tap) runs as its module, on the
    # (B, n, K, C) neighbourhoods, so the hook sees what the original's
    # block outputs.
    seen = []
    layer.mlp2[-1].register_forward_hook(
        lambda module, args, out: seen.append(tuple(out.shape)))
    with torch.no_grad():
        hooked = layer(*inputs)
    assert seen == [(2, 120, 8, 7)]
    for a, b in zip(hooked, late):
        assert torch.equal(a, b)


@pytest.mark.parametrize('reference', [False, True])
def test_marked_outputs_are_channel_last(reference):
    layer, inputs = _layer().eval(), _inputs(2)
    seen = {}

    def record(name):
        def hook(module, args, out):
            seen[name] = out.shape
        return hook

    for name in ('embedding_12', 'embedding_21'):
        getattr(layer, name).register_forward_hook(record(name))
    with torch.no_grad(), reference_algorithms(reference):
        feat1, feat2, _ = layer(*inputs)
    assert seen == dict(embedding_12=(2, 120, 5), embedding_21=(2, 97, 5))


def test_autocast_keeps_the_relative_positions_precise():
    # Under bfloat16 autocast (the CPU's --amp), with clouds far from the
    # origin: the folded position terms (W x2, W x1) must not be rounded in
    # bfloat16, or the embedding drifts far beyond the original's error
    # (which rounds only W (x2 - x1)). Measured: 8e-1 when folded in
    # bfloat16, 6e-3 in float32, 7e-3 for the original.
    layer = _layer().eval()
    xyz1, xyz2, feats1, feats2 = _inputs()
    xyz1, xyz2 = xyz1 + 300., xyz2 + 300.
    idx12, idx21 = knn(8, xyz2, xyz1), knn(8, xyz1, xyz2)
    args = (xyz1, xyz2, feats1, feats2, idx12, idx21)
    with torch.no_grad():
        full = layer(*args)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            ours = layer(*args)
            with reference_algorithms():
                original = layer(*args)

    def error(outs):
        return max(((a.float() - b).abs().max() / b.abs().max()).item()
                   for a, b in zip(outs, full))

    assert error(ours) <= 2 * error(original)


@pytest.mark.parametrize('neighbors', [32, 9, 6])
@pytest.mark.parametrize('channels', [4, 16, 32, 48])
def test_max_over_neighbors_folded_rows_equal_amax(neighbors, channels):
    # Narrow rows are folded (f neighbours side by side) before the
    # reduction: the same maxima, with ties and infinities, and the max with
    # indices when autograd records.
    gen = torch.Generator().manual_seed(neighbors + channels)
    x = torch.randint(-5, 5, (2, 7, neighbors, channels),
                      generator=gen).float()
    x[0, 0, 1, 0] = float('inf')
    x[1, 2, :, 1] = float('-inf')
    expected = x.amax(dim=2)
    assert torch.equal(cross_layer_module.max_over_neighbors(x), expected)
    grad = x.clone().requires_grad_()
    assert torch.equal(cross_layer_module.max_over_neighbors(grad), expected)
    # A non-contiguous input is reduced as it is.
    wide = x.transpose(2, 3).contiguous().transpose(2, 3)
    assert torch.equal(cross_layer_module.max_over_neighbors(wide), expected)
