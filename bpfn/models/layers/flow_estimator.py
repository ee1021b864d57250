"""Residual scene-flow estimator."""
from typing import Optional, Sequence, Tuple

from torch import Tensor, nn
import torch

from bpfn.ops import knn
from .conv_block import Conv1dBlock, pointwise
from .pointconv import PointConv


class ResidualFlowEstimator(nn.Module):
    """PointConv layers, 1x1 convs and a flow head, added to a coarse flow.

    Args:
        feat_channels (int): Channels of the cloud-1 features.
        cost_channels (int): Channels of the flow embedding.
        channels (Sequence[int]): PointConv widths. Defaults to (128, 128).
        mlp (Sequence[int]): 1x1 conv widths. Defaults to (128, 64).
        num_neighbors (int): PointConv neighbours. Defaults to 9.
        weightnet (int): Weight-net channels ``C_mid``. Defaults to 16.
        weightnet_hidden (Sequence[int]): Defaults to (8, 8).
        clamp (float): The residual flow is clamped to [-clamp, clamp].
            Defaults to 200.
    """

    def __init__(self,
                 feat_channels: int,
                 cost_channels: int,
                 channels: Sequence[int] = (128, 128),
                 mlp: Sequence[int] = (128, 64),
                 num_neighbors: int = 9,
                 weightnet: int = 16,
                 weightnet_hidden: Sequence[int] = (8, 8),
                 clamp: float = 200.) -> None:
        super().__init__()
        self.num_neighbors = num_neighbors
        self.clamp = clamp
        last = feat_channels + cost_channels
        self.pointconv_list = nn.ModuleList()
        for width in channels:
            self.pointconv_list.append(
                PointConv(num_neighbors, last + 3, width, weightnet,
                          weightnet_hidden, use_bn=True))
            last = width
        self.mlp_convs = nn.ModuleList()
        for width in mlp:
            self.mlp_convs.append(Conv1dBlock(last, width))
            last = width
        self.fc = nn.Conv1d(last, 3, 1)

    @property
    def out_channels(self) -> int:
        return self.fc.in_channels

    def forward(self,
                xyz: Tensor,
                feats: Tensor,
                cost: Tensor,
                flow: Optional[Tensor] = None,
                idx: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Estimate flow at (B, N, 3) points.

        Args:
            xyz (Tensor): Points of cloud 1, shape (B, N, 3).
            feats (Tensor): Their features, shape (B, N, C1).
            cost (Tensor): Flow embedding, shape (B, N, C2).
            flow (Tensor, optional): Coarse flow to refine, (B, N, 3).
            idx (Tensor, optional): Neighbours of ``xyz`` in itself,
                (B, N, K), when already known.

        Returns:
            tuple[Tensor, Tensor]: Features (B, N, C_out) and flow (B, N, 3).
        """
        if idx is None:
            idx = knn(self.num_neighbors, xyz, xyz)
        x = torch.cat([feats, cost], dim=-1)
        for pointconv in self.pointconv_list:
            x = pointconv(xyz, x, idx)
        for conv in self.mlp_convs:
            x = conv(x)
        residual = pointwise(self.fc, x).clamp(-self.clamp, self.clamp)
        return x, residual if flow is None else residual + flow
