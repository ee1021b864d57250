import torch

from bpfn.models.layers import Conv1dBlock, Conv2dBlock


def test_conv2d_block_is_the_1x1_convolution_channel_last():
    torch.manual_seed(0)
    block = Conv2dBlock(5, 4)
    x = torch.randn(2, 6, 3, 5, requires_grad=True)
    out = block(x)
    expected = block.composed_module(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, [x] + list(block.parameters()), grad)
    want = torch.autograd.grad(expected, [x] + list(block.parameters()), grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_conv1d_block_keys_of_the_original():
    block = Conv1dBlock(3, 4)
    assert set(block.state_dict()) == {'composed_module.0.weight',
                                       'composed_module.0.bias'}
    x = torch.randn(1, 10, 3)
    # Channel-last: the original's convolution on the (B, C, N) map.
    expected = block.composed_module(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-6)
