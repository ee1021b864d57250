"""PointConv layers: same-resolution and downsampling."""
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bpfn.ops import (furthest_point_sample, gather_points, group_points,
                      knn)
from bpfn.ops.chunking import cat_chunks, chunk_elements, point_chunks
from bpfn.ops.export import use_export
from bpfn.ops.reference import use_reference
from .conv_block import LEAKY_RATE, has_forward_hooks
from .weight_net import WeightNet

# Fewest weight-net channels C_mid for which the per-neighbourhood product
# runs fastest as (C, K) x (K, C_mid); below, as (C_mid, K) x (K, C).
MIN_WIDE_MID = 16
# Most centres per batched product: beyond about 2048 (K, C) x (K, W)
# products, torch's CPU batched matmul gets several times slower per
# product.
MAX_PRODUCTS = 2048


class DecreasedLinear(nn.Module):
    """Factorised replacement of PointConv's ``Linear(C_in * C_mid, C_out)``.

    A depthwise 1x1 convolution over the ``C_in`` channels (weight
    ``[C_in, 1, 1, 1]``) and a pointwise convolution to ``C_out / C_mid``
    channels (weight ``[C_out / C_mid, C_in, 1, 1]``) act on the aggregated
    (C_in, C_mid) map of every point; flattening gives ``C_out`` outputs. For
    the level-4 layer of BPF: ``[515,1,1,1]`` and ``[16,515,1,1]``, 16 x 16 =
    256 outputs instead of ``Linear[256, 8240]``.

    Args:
        in_channels (int): ``C_in`` (features plus 3 coordinates).
        mid_channels (int): Weight-net channels ``C_mid``.
        out_channels (int): ``C_out``, a multiple of ``C_mid``.
    """

    def __init__(self, in_channels: int, mid_channels: int,
                 out_channels: int) -> None:
        super().__init__()
        if out_channels % mid_channels:
            raise ValueError(
                f'DecreasedLinear: out_channels={out_channels} must be a '
                f'multiple of the weight-net channels {mid_channels}')
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, 1, groups=in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels // mid_channels,
                                   1)

    def forward(self, x: Tensor) -> Tensor:
        """Aggregated map (B, S, C_in, C_mid) -> (B, S, C_out)."""
        batch, num_points = x.shape[:2]
        x = self.pointwise(self.depthwise(x.transpose(1, 2)))  # B,C',S,W
        return x.transpose(1, 2).reshape(batch, num_points, -1)


class PointConv(nn.Module):
    """PointConv on the points' own neighbourhoods (no downsampling).

    Args:
        num_neighbors (int): Neighbours ``K``.
        in_channels (int): Input feature channels plus 3 (coordinates).
        out_channels (int): Output channels.
        weightnet (int): Weight-net output channels ``C_mid``.
            Defaults to 16.
        weightnet_hidden (Sequence[int]): Weight-net hidden widths.
            Defaults to (8, 8).
        use_bn (bool): BatchNorm after the linear layer. Defaults to False.
        linear_type (str): ``'Linear'`` or ``'DecreasedLinear'``.
            Defaults to ``'Linear'``.
    """

    def __init__(self,
                 num_neighbors: int,
                 in_channels: int,
                 out_channels: int,
                 weightnet: int = 16,
                 weightnet_hidden: Sequence[int] = (8, 8),
                 use_bn: bool = False,
                 linear_type: str = 'Linear') -> None:
        super().__init__()
        self.num_neighbors = num_neighbors
        self.weightnet = WeightNet(3, weightnet, weightnet_hidden)
        if linear_type == 'Linear':
            self.linear = nn.Linear(weightnet * in_channels, out_channels)
        elif linear_type == 'DecreasedLinear':
            self.linear = DecreasedLinear(in_channels, weightnet,
                                          out_channels)
        else:
            raise ValueError(f"linear_type must be 'Linear' or "
                             f"'DecreasedLinear', got {linear_type!r}")
        self.bn_linear = nn.BatchNorm1d(out_channels) if use_bn else None

    def aggregate(self, xyz: Tensor, new_xyz: Tensor, feats: Tensor,
                  idx: Tensor) -> Tensor:
        """Weight and sum each neighbourhood, then the linear layer.

        Args:
            xyz (Tensor): Neighbour candidates, shape (B, N, 3).
            new_xyz (Tensor): Centres, shape (B, S, 3).
            feats (Tensor): Features of ``xyz``, shape (B, N, C).
            idx (Tensor): Neighbour indices, shape (B, S, K).

        Returns:
            Tensor: Features of the centres, shape (B, S, C_out).
        """
        if use_reference():
            return self.aggregate_reference(xyz, new_xyz, feats, idx)
        batch, num_centres = new_xyz.shape[:2]
        # Coordinates and features side by side, contiguous: one gather of
        # whole rows per neighbourhood.
        table = torch.cat([xyz, feats], dim=-1)  # B,N,3+C
        mid = self.weightnet.out_channels
        # With few weight-net channels the products come out (W, C) per
        # centre; the linear layer then takes them in that order, its
        # weight reordered once per call (see _weight_mid_major), which
        # saves a copy of the aggregates. A linear layer with hooks (a
        # distillation tap) runs as its module, on (C, W) aggregates.
        linear = self.linear
        mid_major = (mid < MIN_WIDE_MID and isinstance(linear, nn.Linear)
                     and not has_forward_hooks(linear))
        if mid_major:
            weight = self._weight_mid_major(mid)
        # Chunks of centres keep the (B, chunk, K, C) tensors in cache;
        # every centre is computed as on the whole cloud.
        per_point = batch * idx.shape[-1] * table.shape[-1]
        out = []
        for part in point_chunks(num_centres, per_point,
                                 chunk_elements(xyz.device)):
            grouped = group_points(table, idx[:, part])  # B,n,K,3+C
            rel_xyz = grouped[..., :3]
            centre = new_xyz[:, part].unsqueeze(2)
            # Out of place also for ONNX export, whose converter mishandles
            # an in-place update of a slice.
            if centre.requires_grad or use_export():
                grouped = torch.cat([rel_xyz - centre, grouped[..., 3:]], -1)
                rel_xyz = grouped[..., :3]
            else:
                # Centred in place, unseen by autograd: the derivatives of a
                # shift by a constant are those of the gather.
                with torch.no_grad():
                    rel_xyz -= centre
            if not (xyz.requires_grad or centre.requires_grad):
                rel_xyz = rel_xyz.detach()  # no gradient to send back
            weights = self.weightnet(rel_xyz)  # B,n,K,W
            parts = [
                self._weighted_sum(grouped[:, sub], weights[:, sub], mid,
                                   mid_major)
                for sub in point_chunks(grouped.shape[1], 1, MAX_PRODUCTS)
            ]  # B,n,C,W (B,n,W,C when mid_major)
            agg = cat_chunks(parts, dim=1)
            if mid_major:
                out.append(F.linear(agg.reshape(batch, agg.shape[1], -1),
                                    weight, self.linear.bias))
                continue
            if isinstance(self.linear, nn.Linear):
                agg = agg.reshape(batch, agg.shape[1], -1)
            out.append(self.linear(agg))
        out = cat_chunks(out, dim=1)  # B,S,C
        if self.bn_linear is not None:
            # BatchNorm over (B * S, C): the same statistics as over the
            # (B, C, S) map of the original, without transposing it.
            out = self.bn_linear(out.reshape(-1, out.shape[-1])).view_as(out)
        return F.leaky_relu(out, LEAKY_RATE)

    def _weight_mid_major(self, mid: int) -> Tensor:
        """The linear weight (C_out, C * W) with its inputs reordered
        W-major, (C_out, W * C), for aggregates flattened from (W, C)."""
        weight = self.linear.weight
        out_channels, width = weight.shape
        return weight.view(out_channels, width // mid, mid).transpose(
            1, 2).reshape(out_channels, width)

    @staticmethod
    def _weighted_sum(grouped: Tensor, weights: Tensor, mid: int,
                      mid_major: bool = False) -> Tensor:
        """Per centre, grouped^T @ weights: (B, n, K, C) x (B, n, K, W) ->
        (B, n, C, W), or its transpose (B, n, W, C) with ``mid_major``."""
        if mid >= MIN_WIDE_MID:
            return torch.matmul(grouped.transpose(2, 3), weights)
        # With few weight channels the product is much faster with them as
        # rows; the transpose back is a small copy.
        product = torch.matmul(weights.transpose(2, 3), grouped)
        return product if mid_major else product.transpose(2, 3)

    def aggregate_reference(self, xyz: Tensor, new_xyz: Tensor,
                            feats: Tensor, idx: Tensor) -> Tensor:
        """:meth:`aggregate` as the original computes it (whole cloud, the
        weight net as convolutions on (B, 3, K, S)); see
        :func:`bpfn.ops.reference_algorithms`."""
        batch, num_centres, _ = new_xyz.shape
        rel_xyz = group_points(xyz, idx) - new_xyz.view(batch, num_centres,
                                                        1, 3)
        grouped = torch.cat([rel_xyz, group_points(feats, idx)], dim=-1)
        weights = rel_xyz.permute(0, 3, 2, 1)
        for conv in self.weightnet.mlp_convs:
            weights = F.relu(conv(weights))  # B,W,K,S
        # The original multiplies the permuted weights as they are; made
        # contiguous first, torch's batched product is several times faster
        # on CPU threads, so the comparison does not flatter bpfn.
        x = torch.matmul(grouped.permute(0, 1, 3, 2),
                         weights.permute(0, 3, 2, 1).contiguous())  # B,S,C,W
        if isinstance(self.linear, nn.Linear):
            x = x.view(batch, num_centres, -1)
        x = self.linear(x)
        if self.bn_linear is not None:
            x = self.bn_linear(x.permute(0, 2, 1)).permute(0, 2, 1)
        return F.leaky_relu(x, LEAKY_RATE)

    def forward(self,
                xyz: Tensor,
                feats: Tensor,
                idx: Optional[Tensor] = None) -> Tensor:
        """(B, N, 3) points with (B, N, C) features -> (B, N, C_out).

        ``idx`` (B, N, K) may pass neighbours already found for ``xyz``.
        """
        if idx is None:
            idx = knn(self.num_neighbors, xyz, xyz)
        return self.aggregate(xyz, xyz, feats, idx)


class PointConvDown(PointConv):
    """PointConv that downsamples by farthest point sampling.

    The sampler is the attribute :attr:`sampler`
    (:func:`~bpfn.ops.furthest_point_sample`); FLOP counting switches it
    to a cheap stand-in of the same output shape
    (:func:`bpfn.analysis.sampler_stand_in`).

    Args:
        num_points (int): Points kept, ``S``.
        num_neighbors (int): Neighbours ``K`` of each kept point.
        **kwargs: As :class:`PointConv`.
    """

    def __init__(self, num_points: int, num_neighbors: int,
                 *args, **kwargs) -> None:
        super().__init__(num_neighbors, *args, **kwargs)
        self.num_points = num_points
        #: ``sampler(xyz (B, N, 3), S) -> (B, S)`` int64 indices of the
        #: kept points.
        self.sampler: Callable[[Tensor, int], Tensor] = furthest_point_sample

    def forward(self, xyz: Tensor,
                feats: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Downsample (B, N, 3) points with (B, N, C) features.

        Returns:
            tuple[Tensor, Tensor, Tensor]: Kept points (B, S, 3), their
            features (B, S, C_out) and their indices (B, S) into N.
        """
        fps_idx = self.sampler(xyz, self.num_points)
        new_xyz = gather_points(xyz, fps_idx)
        idx = knn(self.num_neighbors, xyz, new_xyz)
        return new_xyz, self.aggregate(xyz, new_xyz, feats, idx), fps_idx
