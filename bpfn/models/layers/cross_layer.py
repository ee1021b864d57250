"""Bidirectional flow embedding (the cross layer of Bi-PointFlowNet)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bpfn.ops import group_points, knn
from bpfn.ops.chunking import cat_chunks, chunk_elements, point_chunks
from bpfn.ops.reference import use_reference
from .conv_block import (LEAKY_RATE, Conv1dBlock, Conv2dBlock,
                         has_forward_hooks, pointwise)


# Narrowest rows for which torch's CPU reduction over the neighbours runs at
# full speed: with 16 channels it is about 15x slower than with 32.
FAST_MAX_CHANNELS = 32


def max_over_neighbors(x: Tensor) -> Tensor:
    """Max over the neighbours of (B, n, K, C) -> (B, n, C).

    ``amax`` without autograd; with it, the max with indices, whose
    gradient goes to one neighbour (as the original's max pooling) and costs
    a scatter instead of comparisons over the whole tensor. On CPU, narrow
    rows are first folded: ``f`` neighbours side by side make rows of
    ``f * C`` channels, reduced at full speed, then the ``f`` partial
    maxima are reduced (the same values: a max is exact).
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return x.max(dim=2).values
    batch, num, neighbors, channels = x.shape
    fold = 1
    while (channels * fold * 2 <= FAST_MAX_CHANNELS
           and neighbors % (fold * 2) == 0):
        fold *= 2
    if fold == 1 or x.device.type != 'cpu' or not x.is_contiguous():
        return x.amax(dim=2)
    partial = x.view(batch, num, neighbors // fold, fold * channels).amax(2)
    return partial.view(batch, num, fold, channels).amax(2)


class BidirectionalCrossLayer(nn.Module):
    """Bidirectional flow embedding between two clouds.

    Three embeddings, each a max over the ``K`` nearest points of the other
    cloud: pc1 -> pc2 and pc2 -> pc1 on the projected input features (shared
    weights, then ``cross_t1`` / ``cross_t2``), then pc1 -> pc2 again on the
    two new features. The identity modules ``embedding_12`` and
    ``embedding_21`` mark the two directions' outputs so that hooks (such as
    distillation hints) can record them by name.

    Args:
        num_neighbors (int): Neighbours ``K`` in the other cloud.
        in_channels (int): Input feature channels ``C_in``.
        mlp1 (Sequence[int]): Widths of the first embedding.
        mlp2 (Sequence[int]): Widths of the second embedding.
    """

    def __init__(self, num_neighbors: int, in_channels: int,
                 mlp1: Sequence[int], mlp2: Sequence[int]) -> None:
        super().__init__()
        self.num_neighbors = num_neighbors
        # Parameters of the original that its forward pass never uses; kept
        # so that its checkpoints load and parameter counts match.
        self.bias1 = nn.Parameter(torch.randn(1, mlp1[0], 1, 1))
        self.bias2 = nn.Parameter(torch.randn(1, mlp2[0], 1, 1))
        self.bias1.requires_grad_(False)
        self.bias2.requires_grad_(False)
        self.pos1 = nn.Conv2d(3, mlp1[0], 1)
        self.mlp1 = nn.ModuleList(
            Conv2dBlock(c_in, c_out)
            for c_in, c_out in zip(mlp1[:-1], mlp1[1:]))
        self.cross_t11 = nn.Conv1d(in_channels, mlp1[0], 1)
        self.cross_t22 = nn.Conv1d(in_channels, mlp1[0], 1)
        self.cross_t1 = nn.Conv1d(mlp1[-1], mlp2[0], 1)
        self.cross_t2 = nn.Conv1d(mlp1[-1], mlp2[0], 1)
        self.pos2 = nn.Conv2d(3, mlp2[0], 1)
        self.mlp2 = nn.ModuleList(
            Conv2dBlock(c_in, c_out)
            for c_in, c_out in zip(mlp2[:-1], mlp2[1:]))
        self.embedding_12 = nn.Identity()
        self.embedding_21 = nn.Identity()

    @staticmethod
    def embed(xyz1: Tensor, xyz2: Tensor, feats1: Tensor, feats2: Tensor,
              idx: Tensor, pos: nn.Module, mlp: nn.ModuleList) -> Tensor:
        """Embed cloud 2 into cloud 1 over each point's neighbours.

        The original adds, for every neighbour ``j`` of a point ``i``, the
        features ``f2_j + f1_i`` and the 1x1 conv of the relative position,
        ``W (x2_j - x1_i) + b``. That conv is linear, so the sum is
        ``(f2_j + W x2_j) + (f1_i - W x1_i + b)``: both terms are computed
        once per point and only the first is gathered per neighbour (the
        same values up to float32 rounding). Channel-last and contiguous
        inside, so that every gather copies whole rows.

        Args:
            xyz1 (Tensor): Points of cloud 1, shape (B, N1, 3).
            xyz2 (Tensor): Points of cloud 2, shape (B, N2, 3).
            feats1 (Tensor): Features of cloud 1, shape (B, N1, C).
            feats2 (Tensor): Features of cloud 2, shape (B, N2, C).
            idx (Tensor): Neighbours in cloud 2, shape (B, N1, K).
            pos (nn.Module): 1x1 conv of the relative positions.
            mlp (nn.ModuleList): Further 1x1 conv blocks.

        Returns:
            Tensor: Embedded features, shape (B, N1, C'), contiguous.
        """
        batch, num1, num_neighbors = idx.shape
        # ``W x2`` and ``W x1`` are of the size of the coordinates, far
        # larger than their difference: computed in float16 or bfloat16
        # (autocast) their rounding would swamp it, so they are computed in
        # at least float32, as the original's relative positions are.
        dtype = torch.promote_types(feats2.dtype, torch.float32)
        with torch.autocast(xyz1.device.type, enabled=False):
            weight = pos.weight.reshape(pos.weight.shape[0], 3).to(dtype)
            table2 = torch.addmm(
                feats2.reshape(-1, feats2.shape[-1]).to(dtype),
                xyz2.reshape(-1, 3).to(dtype), weight.t()).view(
                    batch, -1, weight.shape[0])
            own1 = feats1.to(dtype) + F.linear(
                xyz1.to(dtype), -weight, pos.bias.to(dtype))
        channels = table2.shape[-1]
        # Chunks of cloud 1 keep the (B, chunk, K, C) tensors in cache; every
        # point is computed as on the whole cloud.
        per_point = batch * num_neighbors * channels
        # Without autograd, the last block's activation runs after the max
        # over the neighbours, on K times fewer values: a leaky ReLU is
        # non-decreasing (in floats too), so the max of the activations is
        # the activation of the max, bitwise. A block with hooks (a
        # distillation tap) runs as its module.
        graph = torch.is_grad_enabled() and (
            table2.requires_grad or own1.requires_grad
            or any(p.requires_grad for p in mlp.parameters()))
        last = mlp[-1] if len(mlp) else None
        late = (not graph and isinstance(last, Conv1dBlock)
                and not has_forward_hooks(last))
        out = []
        for part in point_chunks(num1, per_point,
                                 chunk_elements(xyz1.device)):
            x = group_points(table2, idx[:, part])  # B,n,K,C
            if graph:
                # Out of place: in-place operations act on whole tensors
                # only, never on views (whose gradients autograd would
                # copy).
                x = torch.add(x, own1[:, part].unsqueeze(2))
            else:
                x.add_(own1[:, part].unsqueeze(2))
            x = F.leaky_relu_(x, LEAKY_RATE)
            for block in (mlp[:-1] if late else mlp):
                x = block(x)
            if late:
                out.append(F.leaky_relu_(
                    max_over_neighbors(last.pre_activation(x)), LEAKY_RATE))
            else:
                out.append(max_over_neighbors(x))
        return cat_chunks(out, dim=1)

    @staticmethod
    def embed_reference(xyz1: Tensor, xyz2: Tensor, feats1: Tensor,
                        feats2: Tensor, idx: Tensor, pos: nn.Module,
                        mlp: nn.ModuleList) -> Tensor:
        """The embedding as the original computes it: on the whole cloud at
        once, in its (B, C, K, N) layout with convolutions and max pooling
        (see :func:`bpfn.ops.reference_algorithms`).

        Args:
            xyz1, xyz2 (Tensor): The clouds, (B, N1, 3) and (B, N2, 3).
            feats1, feats2 (Tensor): Their features, (B, C, N1/N2).
            idx (Tensor): Neighbours in cloud 2, (B, N1, K).
            pos (nn.Module): 1x1 conv of the relative positions.
            mlp (nn.ModuleList): Further 1x1 conv blocks.

        Returns:
            Tensor: Embedded features, (B, C', N1).
        """
        batch, num1, num_neighbors = idx.shape
        direction = group_points(xyz2, idx) - xyz1.view(batch, num1, 1, 3)
        grouped2 = group_points(feats2.permute(0, 2, 1), idx).permute(
            0, 3, 2, 1)
        grouped1 = feats1.permute(0, 2, 1).view(batch, num1, 1, -1).repeat(
            1, 1, num_neighbors, 1).permute(0, 3, 2, 1)
        x = F.leaky_relu(grouped2 + grouped1 + pos(direction.permute(
            0, 3, 2, 1)), LEAKY_RATE)
        for block in mlp:
            x = block.composed_module(x)
        return F.max_pool2d(x, (num_neighbors, 1)).squeeze(2)

    def forward(
        self,
        xyz1: Tensor,
        xyz2: Tensor,
        feats1: Tensor,
        feats2: Tensor,
        idx12: Optional[Tensor] = None,
        idx21: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Flow embedding of (B, N1, 3) / (B, N2, 3) clouds.

        Args:
            xyz1, xyz2 (Tensor): The clouds, (B, N1, 3) and (B, N2, 3).
            feats1, feats2 (Tensor): Their features, (B, N1/N2, C_in).
            idx12 (Tensor, optional): Neighbours in cloud 2 of cloud 1's
                points, (B, N1, K), when already known.
            idx21 (Tensor, optional): Neighbours in cloud 1 of cloud 2's
                points, (B, N2, K), when already known.

        Returns:
            tuple[Tensor, Tensor, Tensor]: New features of cloud 1
            (B, N1, C) and cloud 2 (B, N2, C), and the final embedding of
            cloud 1 (B, N1, C).
        """
        if idx12 is None:
            idx12 = knn(self.num_neighbors, xyz2, xyz1)
        if idx21 is None:
            idx21 = knn(self.num_neighbors, xyz1, xyz2)
        if use_reference():
            return self.forward_reference(xyz1, xyz2, feats1, feats2, idx12,
                                          idx21)
        new1 = pointwise(self.cross_t1, self.embed(
            xyz1, xyz2, pointwise(self.cross_t11, feats1),
            pointwise(self.cross_t22, feats2), idx12, self.pos1, self.mlp1))
        new2 = pointwise(self.cross_t2, self.embed(
            xyz2, xyz1, pointwise(self.cross_t11, feats2),
            pointwise(self.cross_t22, feats1), idx21, self.pos1, self.mlp1))
        feat1_new = self.embedding_12(new1)
        feat2_new = self.embedding_21(new2)
        feat1_final = self.embed(xyz1, xyz2, feat1_new, feat2_new, idx12,
                                 self.pos2, self.mlp2)
        return feat1_new, feat2_new, feat1_final

    def forward_reference(self, xyz1: Tensor, xyz2: Tensor, feats1: Tensor,
                          feats2: Tensor, idx12: Tensor,
                          idx21: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """:meth:`forward` as the original computes it, in its (B, C, N)
        layout inside."""
        feats1, feats2 = feats1.transpose(1, 2), feats2.transpose(1, 2)
        feat1_new = self.cross_t1(
            self.embed_reference(xyz1, xyz2, self.cross_t11(feats1),
                                 self.cross_t22(feats2), idx12, self.pos1,
                                 self.mlp1))
        feat2_new = self.cross_t2(
            self.embed_reference(xyz2, xyz1, self.cross_t11(feats2),
                                 self.cross_t22(feats1), idx21, self.pos1,
                                 self.mlp1))
        feat1_final = self.embed_reference(xyz1, xyz2, feat1_new, feat2_new,
                                           idx12, self.pos2, self.mlp2)
        return (self.embedding_12(feat1_new.transpose(1, 2)),
                self.embedding_21(feat2_new.transpose(1, 2)),
                feat1_final.transpose(1, 2))
