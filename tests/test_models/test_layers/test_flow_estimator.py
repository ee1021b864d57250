import torch

from bpfn.models.layers import ResidualFlowEstimator
from bpfn.ops import reference_algorithms


def test_flow_estimator_equals_the_original_computation():
    torch.manual_seed(0)
    est = ResidualFlowEstimator(6, 5, channels=(8, 8), mlp=(8, 4),
                                num_neighbors=5, weightnet=4).train()
    gen = torch.Generator().manual_seed(1)
    xyz = torch.rand(2, 80, 3, generator=gen)
    feats = torch.randn(2, 80, 6, generator=gen)
    cost = torch.randn(2, 80, 5, generator=gen)
    flow = torch.randn(2, 80, 3, generator=gen)
    results = []
    for reference in (False, True):
        est.zero_grad()
        with reference_algorithms(reference):
            out, new_flow = est(xyz, feats, cost, flow)
        (out.sum() + (new_flow ** 2).sum()).backward()
        results.append([out.detach(), new_flow.detach()] +
                       [p.grad.clone() for p in est.parameters()
                        if p.requires_grad])
    assert results[0][1].shape == (2, 80, 3)
    # Biases in front of BatchNorm get gradients that cancel to about 0:
    # an absolute tolerance on the scale of all gradients.
    scale = max(t.abs().max().item() for t in results[1])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)
