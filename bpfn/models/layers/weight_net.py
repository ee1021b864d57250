"""The weight network of PointConv."""
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .conv_block import pointwise


class WeightNet(nn.Module):
    """MLP from relative coordinates to ``C_mid`` convolution weights.

    The original creates a BatchNorm layer after every convolution but, with
    its batch-norm switch off, never applies it. Those layers are kept (so
    that original checkpoints load and parameter counts match) and frozen,
    so they take no gradient and do not trouble distributed training.

    Args:
        in_channels (int): Coordinate channels, 3.
        out_channels (int): Weight channels ``C_mid`` (16 in the original).
        hidden_channels (Sequence[int]): Hidden widths. Defaults to (8, 8).
        use_bn (bool): Apply the BatchNorm layers. Defaults to False, as the
            original.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 hidden_channels: Sequence[int] = (8, 8),
                 use_bn: bool = False) -> None:
        super().__init__()
        self.use_bn = use_bn
        widths = [in_channels, *hidden_channels, out_channels]
        self.mlp_convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, 1)
            for c_in, c_out in zip(widths[:-1], widths[1:]))
        self.mlp_bns = nn.ModuleList(nn.BatchNorm2d(c) for c in widths[1:])
        if not use_bn:
            self.mlp_bns.requires_grad_(False)

    @property
    def out_channels(self) -> int:
        """Weight channels ``C_mid``."""
        return self.mlp_convs[-1].out_channels

    def forward(self, rel_xyz: Tensor) -> Tensor:
        """Relative coordinates (B, S, K, 3) -> weights (B, S, K, C_mid)."""
        if self.use_bn:
            x = rel_xyz
            for conv, bn in zip(self.mlp_convs, self.mlp_bns):
                x = bn(pointwise(conv, x).movedim(-1, 1)).movedim(1, -1)
                x = F.relu(x)
            return x
        shape = rel_xyz.shape[:-1]
        # The 1x1 convolutions as linear maps on (B * S * K, C) rows; the
        # activations run in place on those whole tensors, never on views
        # (whose gradients autograd would copy).
        x = rel_xyz.reshape(-1, rel_xyz.shape[-1])
        for conv in self.mlp_convs:
            x = F.relu_(pointwise(conv, x))
        return x.view(*shape, x.shape[-1])
