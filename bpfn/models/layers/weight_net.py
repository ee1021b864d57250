"""The weight network of PointConv."""
from typing import Sequence

import torch
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
        """Relative coordinates (B, S, K, 3) -> weights (B, S, K, C_mid).

        Without BatchNorm the layers run as (C_out, C_in) x (C_in, B*S*K)
        products, whose long rows suit CPU kernels better than the
        (B*S*K, C_in) x (C_in, C_out) products of a few columns; the result
        is a (B, S, K, C_mid) view of that (C_mid, B*S*K) map.
        """
        if self.use_bn:
            x = rel_xyz
            for conv, bn in zip(self.mlp_convs, self.mlp_bns):
                x = bn(pointwise(conv, x).movedim(-1, 1)).movedim(1, -1)
                x = F.relu_(x)
            return x
        shape = rel_xyz.shape[:-1]
        x = rel_xyz.reshape(-1, rel_xyz.shape[-1]).t()  # C_in, B*S*K
        for conv in self.mlp_convs:
            x = torch.addmm(conv.bias.unsqueeze(1),
                            conv.weight.reshape(conv.out_channels, -1), x)
            x = F.relu_(x)
        return x.t().view(*shape, x.shape[0])
