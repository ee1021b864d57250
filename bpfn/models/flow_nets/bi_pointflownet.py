"""Bi-PointFlowNet (ECCV 2022) and its lightweight students."""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

from bpfn.ops import knn, three_interpolate, three_nn_weights, warp_backward
from bpfn.ops.search_trees import reuse_search_trees
from bpfn.registry import MODELS
from ..layers import (BidirectionalCrossLayer, Conv1dBlock, PointConvDown,
                      ResidualFlowEstimator)

NUM_RESOLUTIONS = 5


def _per_resolution(value: Union[int, Sequence[int]], name: str) -> List[int]:
    if isinstance(value, int):
        return [value] * NUM_RESOLUTIONS
    value = list(value)
    if len(value) != NUM_RESOLUTIONS:
        raise ValueError(
            f'{name} must be an int or a list of {NUM_RESOLUTIONS} values '
            f'(one per resolution, finest first), got {value}')
    return value


@MODELS.register_module()
class BiPointFlowNet(BaseModel):
    """Bi-PointFlowNet: a PointConv pyramid with bidirectional flow embedding.

    The network computes exactly what the original ``PointConvBidirection``
    computes, and its submodules carry the original's names, so original
    checkpoints load unchanged. Students are configurations of this class.

    The pyramid has five resolutions: the input (``N`` points) and
    ``num_points`` (2048, 512, 256, 64 in the original). Flow is estimated on
    the first four, coarse to fine.

    Args:
        num_points (Sequence[int]): Points kept by the downsampling layers of
            levels 1-4. Defaults to (2048, 512, 256, 64).
        feat_neighbors (int): Neighbours of the downsampling PointConvs.
            Defaults to 16.
        flow_neighbors (int): Neighbours of the flow embedding.
            Defaults to 32.
        estimator_neighbors (int): Neighbours of the estimators' PointConvs.
            Defaults to 9.
        weightnet (int | Sequence[int]): Weight-net output channels
            ``C_mid``, one value or one per resolution (N, 2048, 512, 256,
            64); a resolution's downsampling PointConv and its flow
            estimator's PointConvs share it. Defaults to 16.
        weightnet_hidden (Sequence[int]): Weight-net hidden widths.
            Defaults to (8, 8).
        width_mult (float): Multiplier of every feature width (0.5 for the
            Half-channel student). Defaults to 1.0.
        level4_block (str): ``'Linear'`` or ``'DecreasedLinear'``, the linear
            layer of the level-4 PointConv. Defaults to ``'Linear'``.
        estimator_channels (Sequence[int]): Estimator PointConv widths.
            Defaults to (128, 128).
        estimator_mlp (Sequence[int]): Estimator 1x1 conv widths.
            Defaults to (128, 64).
        flow_clamp (float): Clamp of each residual flow. Defaults to 200.
        loss (dict): Config of the training loss.
            Defaults to ``dict(type='MultiScaleLoss')``.
        data_preprocessor (dict, optional): Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 num_points: Sequence[int] = (2048, 512, 256, 64),
                 feat_neighbors: int = 16,
                 flow_neighbors: int = 32,
                 estimator_neighbors: int = 9,
                 weightnet: Union[int, Sequence[int]] = 16,
                 weightnet_hidden: Sequence[int] = (8, 8),
                 width_mult: float = 1.0,
                 level4_block: str = 'Linear',
                 estimator_channels: Sequence[int] = (128, 128),
                 estimator_mlp: Sequence[int] = (128, 64),
                 flow_clamp: float = 200.,
                 loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        # Refuse bad numeric arguments, naming the config field.
        def count(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) \
                and value >= 1

        def counts(value) -> bool:
            return isinstance(value, (list, tuple)) and len(value) > 0 and \
                all(count(v) for v in value)

        def fail(field: str, expected: str, value) -> None:
            raise ValueError(f'model.{field} must be {expected}, got '
                             f'{value!r} (BiPointFlowNet)')

        for field, value in (('feat_neighbors', feat_neighbors),
                             ('flow_neighbors', flow_neighbors),
                             ('estimator_neighbors', estimator_neighbors)):
            if not count(value):
                fail(field, 'an integer >= 1 (neighbours per point)', value)
        for field, value, what in (
                ('num_points', num_points, 'points of levels 1-4'),
                ('weightnet_hidden', weightnet_hidden, 'widths'),
                ('estimator_channels', estimator_channels, 'widths'),
                ('estimator_mlp', estimator_mlp, 'widths')):
            if not counts(value):
                fail(field, f'a list of integers >= 1 ({what})', value)
        if not (count(weightnet) or counts(weightnet)):
            fail('weightnet', 'an integer >= 1 or a list of them (C_mid)',
                 weightnet)
        for field, value in (('width_mult', width_mult),
                             ('flow_clamp', flow_clamp)):
            if isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not math.isfinite(value) or \
                    value <= 0:
                fail(field, 'a finite number > 0', value)
        if level4_block not in ('Linear', 'DecreasedLinear'):
            fail('level4_block', "'Linear' or 'DecreasedLinear'",
                 level4_block)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if len(num_points) != 4:
            raise ValueError('num_points must list the points of levels 1-4, '
                             f'got {list(num_points)}')
        self.num_points = list(num_points)
        self.flow_neighbors = flow_neighbors
        self.estimator_neighbors = estimator_neighbors
        self.min_input_points = max(self.num_points[0], flow_neighbors,
                                    feat_neighbors, estimator_neighbors)
        wn = _per_resolution(weightnet, 'weightnet')
        self.weightnet_channels = wn

        def w(channels: int) -> int:
            return max(1, int(round(channels * width_mult)))

        f = [w(32), w(64), w(128), w(256), w(256)]  # features per resolution
        d = [w(32), w(32), w(64), w(64)]  # upsampled (deconv) features
        est_ch = [w(c) for c in estimator_channels]
        est_mlp = [w(c) for c in estimator_mlp]
        common = dict(weightnet_hidden=tuple(weightnet_hidden))

        # Encoder.
        self.level0 = Conv1dBlock(3, f[0])
        self.level0_1 = Conv1dBlock(f[0], f[0])
        self.level0_2 = Conv1dBlock(f[0], 2 * f[0])
        self.level1 = PointConvDown(num_points[0], feat_neighbors,
                                    2 * f[0] + 3, f[1], wn[1], **common)
        self.level1_0 = Conv1dBlock(f[1], f[1])
        self.level1_1 = Conv1dBlock(f[1], 2 * f[1])
        self.level2 = PointConvDown(num_points[1], feat_neighbors,
                                    2 * f[1] + 3, f[2], wn[2], **common)
        self.level2_0 = Conv1dBlock(f[2], f[2])
        self.level2_1 = Conv1dBlock(f[2], 2 * f[2])
        self.level3 = PointConvDown(num_points[2], feat_neighbors,
                                    2 * f[2] + 3, f[3], wn[3], **common)
        self.level3_0 = Conv1dBlock(f[3], f[3])
        self.level3_1 = Conv1dBlock(f[3], 2 * f[3])
        self.level4 = PointConvDown(
            num_points[3], feat_neighbors, 2 * f[3] + 3, f[4], wn[4],
            linear_type=level4_block, **common)

        # Flow embedding and estimation, one per level 0-3.
        for level in range(4):
            self.add_module(
                f'cross{level}',
                BidirectionalCrossLayer(flow_neighbors, f[level] + d[level],
                                        [f[level]] * 2, [f[level]] * 2))
            feat_channels = f[level] + (est_mlp[-1] if level < 3 else 0)
            self.add_module(
                f'flow{level}',
                ResidualFlowEstimator(
                    feat_channels, f[level], est_ch, est_mlp,
                    estimator_neighbors, wn[level], clamp=flow_clamp,
                    **common))

        # Decoder: upsampled features of the coarser level.
        self.deconv4_3 = Conv1dBlock(f[4], d[3])
        self.deconv3_2 = Conv1dBlock(f[3], d[2])
        self.deconv2_1 = Conv1dBlock(f[2], d[1])
        self.deconv1_0 = Conv1dBlock(f[1], d[0])

        self.loss_module = MODELS.build(loss or dict(type='MultiScaleLoss'))

    # ------------------------------------------------------------------
    def check_inputs(self, pc1: Tensor, pc2: Tensor) -> None:
        """Raise a clear error for clouds the network cannot take."""
        for name, pc in (('pc1', pc1), ('pc2', pc2)):
            if pc.dim() != 3 or pc.shape[-1] != 3:
                raise ValueError(f'BiPointFlowNet: {name} must have shape '
                                 f'(B, N, 3), got {tuple(pc.shape)}')
            if pc.shape[1] < self.min_input_points:
                raise ValueError(
                    f'BiPointFlowNet: {name} has {pc.shape[1]} points but '
                    f'level 1 samples {self.num_points[0]} (and at least '
                    f'{self.min_input_points} are needed); sample more '
                    'points or lower model.num_points')
        if pc1.shape[0] != pc2.shape[0]:
            raise ValueError('BiPointFlowNet: pc1 and pc2 batch sizes differ: '
                             f'{pc1.shape[0]} vs {pc2.shape[0]}')

    def _encode(self, xyz: Tensor, feats: Tensor) -> dict:
        """Feature pyramid of clouds (B, N, 3) with features (B, N, 3).

        Both clouds of a pair go through the shared encoder as one batch;
        features are channel-last, (B, N_l, C_l), at every level.
        """
        out = dict(xyz=[xyz], feats=[], fps_idx=[])
        x = self.level0_1(self.level0(feats))
        out['feats'].append(x)
        x = self.level0_2(x)
        for level in range(1, 4):
            new_xyz, x, fps_idx = getattr(self, f'level{level}')(
                out['xyz'][-1], x)
            x = getattr(self, f'level{level}_0')(x)
            out['xyz'].append(new_xyz)
            out['feats'].append(x)
            out['fps_idx'].append(fps_idx)
            x = getattr(self, f'level{level}_1')(x)
        out['xyz4'], out['feats4'], _ = self.level4(out['xyz'][-1], x)
        return out

    @reuse_search_trees()
    def extract(self,
                pc1: Tensor,
                pc2: Tensor,
                feat1: Optional[Tensor] = None,
                feat2: Optional[Tensor] = None) -> Dict[str, List[Tensor]]:
        """Run the network.

        Every neighbour search of one call shares the k-d trees of the
        clouds it searches (:func:`~bpfn.ops.search_trees.reuse_search_trees`).

        Args:
            pc1 (Tensor): First cloud, shape (B, N, 3).
            pc2 (Tensor): Second cloud, shape (B, N, 3).
            feat1 (Tensor, optional): Point features of pc1, (B, N, 3).
                Defaults to the coordinates, as the original.
            feat2 (Tensor, optional): Point features of pc2, (B, N, 3).

        Returns:
            dict: ``flows`` (4 tensors (B, N_l, 3), full resolution first,
            the layout of the ground truth),
            ``fps_idx_pc1`` / ``fps_idx_pc2`` (3 tensors (B, S_l)),
            ``pc1`` / ``pc2`` (4 tensors (B, N_l, 3)).
        """
        self.check_inputs(pc1, pc2)
        batch = pc1.shape[0]
        feat1 = pc1 if feat1 is None else feat1
        feat2 = pc2 if feat2 is None else feat2
        # Rows [:B] hold cloud 1 and rows [B:] cloud 2 from here on.
        enc = self._encode(torch.cat([pc1, pc2]), torch.cat([feat1, feat2]))
        xyz = enc['xyz']

        def split(t: Tensor) -> List[Tensor]:
            return [t[:batch], t[batch:]]

        # Coarsest features, upsampled from level 4 to level 3.
        up = self.deconv4_3(
            three_interpolate(enc['feats4'],
                              *three_nn_weights(xyz[3], enc['xyz4'])))
        flows: List[Tensor] = [None] * 4
        est_feat = flow = interp = new = None
        for level in range(3, -1, -1):
            xyz1, xyz2 = split(xyz[level])
            feats1, feats2 = split(enc['feats'][level])
            if level < 3:
                # interp: three-NN weights from level + 1 to level, both
                # clouds; new: both clouds' features from the cross layer.
                up = getattr(self, f'deconv{level + 1}_{level}')(
                    three_interpolate(new, *interp))
                interp1 = [t[:batch] for t in interp]
                up_flow = three_interpolate(flow, *interp1)
                target = warp_backward(xyz1, xyz2, up_flow)
                est_in = torch.cat(
                    [feats1, three_interpolate(est_feat, *interp1)], dim=-1)
            else:
                up_flow, target, est_in = None, xyz2, feats1
            up1, up2 = split(up)
            idx12 = knn(self.flow_neighbors, target, xyz1)
            new1, new2, cost = getattr(self, f'cross{level}')(
                xyz1, target, torch.cat([feats1, up1], dim=-1),
                torch.cat([feats2, up2], dim=-1), idx12)
            est_feat, flow = getattr(self, f'flow{level}')(
                xyz1, est_in, cost, up_flow)
            flows[level] = flow
            if level > 0:
                new = torch.cat([new1, new2])
                interp = three_nn_weights(xyz[level - 1], xyz[level])

        return dict(
            flows=flows,
            fps_idx_pc1=[t[:batch] for t in enc['fps_idx']],
            fps_idx_pc2=[t[batch:] for t in enc['fps_idx']],
            pc1=[t[:batch] for t in xyz],
            pc2=[t[batch:] for t in xyz])

    # ------------------------------------------------------------------
    def forward(self,
                inputs: dict,
                data_samples: Optional[List[dict]] = None,
                mode: str = 'tensor') -> Union[dict, List[dict]]:
        """Forward in MMEngine's three modes.

        Args:
            inputs (dict): ``pc1`` and ``pc2`` (B, N, 3); optional ``feat1``
                and ``feat2`` (B, N, 3).
            data_samples (list[dict], optional): Per-sample dicts with
                ``gt_flow`` (N, 3) and meta information.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            dict | list[dict]: Losses, per-sample predictions (the data
            sample's keys plus ``pred_flow`` (N, 3) and ``pc1`` (N, 3)) or
            the raw outputs of :meth:`extract`.
        """
        out = self.extract(inputs['pc1'], inputs['pc2'], inputs.get('feat1'),
                           inputs.get('feat2'))
        if mode == 'tensor':
            return out
        if mode == 'loss':
            return self.loss(out, data_samples)
        if mode == 'predict':
            return self.predict(out, inputs, data_samples)
        raise ValueError(f'BiPointFlowNet: unknown mode {mode!r}, expected '
                         "'loss', 'predict' or 'tensor'")

    @staticmethod
    def stack_gt_flow(data_samples: List[dict]) -> Tensor:
        """Ground truth of a batch, (B, N, 3).

        An unlabelled sample (no ``gt_flow`` key, see ``PackFlowInputs``)
        is refused, naming the samples.
        """
        if not data_samples:
            raise KeyError('the flow loss needs data samples with a gt_flow '
                           '(N, 3) entry; got none')
        missing = [ds for ds in data_samples if 'gt_flow' not in ds]
        if missing:
            names = ', '.join(
                f"{ds.get('sample_name', '?')!r} (dataset "
                f"{ds.get('dataset', '?')!r}, sample_idx "
                f"{ds.get('sample_idx', '?')})" for ds in missing[:5])
            more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
            raise KeyError(
                f'{len(missing)} of {len(data_samples)} data samples have no '
                f'ground-truth flow (gt_flow): {names}{more}; the flow loss '
                'needs ground truth on every sample; unlabelled samples can '
                'only be trained on by losses without ground truth '
                '(distillation)')
        return torch.stack([ds['gt_flow'] for ds in data_samples])

    def loss(self, out: dict, data_samples: List[dict]) -> Dict[str, Tensor]:
        """Multi-scale loss of :meth:`extract`'s outputs."""
        gt_flow = self.stack_gt_flow(data_samples).to(out['flows'][0])
        return dict(
            loss=self.loss_module(out['flows'], gt_flow, out['fps_idx_pc1']))

    @staticmethod
    def predict(out: dict, inputs: dict,
                data_samples: Optional[List[dict]]) -> List[dict]:
        """Per-sample predictions: full-resolution flow (N, 3)."""
        pred = out['flows'][0].detach()
        results = []
        for i in range(pred.shape[0]):
            sample = dict(data_samples[i]) if data_samples else {}
            sample['pred_flow'] = pred[i]
            sample['pc1'] = inputs['pc1'][i]
            results.append(sample)
        return results
