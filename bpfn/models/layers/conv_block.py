"""1x1 convolution blocks with LeakyReLU, named as in the original BPF."""
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_RATE = 0.1


def has_forward_hooks(module: nn.Module) -> bool:
    """Whether ``module`` has forward (pre-)hooks of its own, such as a
    distillation tap: a layer that computes it another way than by calling
    it must then call it, so that the hooks see what they expect."""
    return bool(module._forward_hooks or module._forward_pre_hooks)


def pointwise(conv: nn.Module, x: Tensor) -> Tensor:
    """Apply a 1x1 convolution to channel-last input ``(..., C_in)``.

    A 1x1 convolution is a linear map over channels; applying it to the last
    dimension avoids permuting the (B, S, K, C) neighbourhood tensors.
    """
    weight = conv.weight.reshape(conv.weight.shape[0], -1)
    return F.linear(x, weight, conv.bias)


class Conv1dBlock(nn.Module):
    """1x1 ``Conv1d`` then LeakyReLU(0.1), applied channel-last.

    The layers sit in ``composed_module`` (conv, identity, activation) so
    that the original checkpoints' key names load unchanged; the 1x1 conv
    runs as a linear map over the last dimension of (B, N, C) features.

    Args:
        in_channels (int): Input channels ``C_in``.
        out_channels (int): Output channels ``C_out``.
    """

    #: The convolution the original uses (its weight's shape is kept).
    conv_type = nn.Conv1d

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.composed_module = nn.Sequential(
            self.conv_type(in_channels, out_channels, 1), nn.Identity(),
            nn.LeakyReLU(LEAKY_RATE))

    def forward(self, x: Tensor) -> Tensor:
        """(..., C_in) -> (..., C_out): the 1x1 conv on the last dimension."""
        # The activation runs in place on the whole 2D product, not on a
        # view of it (whose gradient autograd would copy).
        y = pointwise(self.composed_module[0], x.reshape(-1, x.shape[-1]))
        return F.leaky_relu_(y, LEAKY_RATE).view(*x.shape[:-1], -1)

    def pre_activation(self, x: Tensor) -> Tensor:
        """(..., C_in) -> (..., C_out): the 1x1 conv alone, before the
        activation (which :meth:`forward` applies)."""
        y = pointwise(self.composed_module[0], x.reshape(-1, x.shape[-1]))
        return y.view(*x.shape[:-1], -1)


class Conv2dBlock(Conv1dBlock):
    """1x1 ``Conv2d`` then LeakyReLU(0.1), applied channel-last.

    Args:
        in_channels (int): Input channels ``C_in``.
        out_channels (int): Output channels ``C_out``.
    """

    conv_type = nn.Conv2d
