"""Pack a sample into the model's input format."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS

#: Per-point labels of the Threeway EPE, packed together when present.
LABEL_KEYS = ('pc1_label', 'ego_flow', 'frame_interval')


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _source(results: dict) -> str:
    return str(results.get('sample_name') or results.get('pc1_path') or '?')


@TRANSFORMS.register_module()
class PackFlowInputs(BaseTransform):
    """Produce ``dict(inputs=..., data_samples=...)``.

    ``inputs`` holds ``pc1`` and ``pc2`` as float32 tensors ``(N, 3)``;
    ``data_samples`` holds the meta fields (``sample_idx`` as int,
    ``sample_name``, ``dataset``, ``camera``: ``'ft3d'`` or
    ``{'P_rect_02': 3x4 nested list}``) and:

    * ``gt_flow`` ``(N, 3)`` when the sample has ground truth (a ``flow``
      entry). **A sample without ground truth has no ``gt_flow`` key**: this
      absence is the one mark of an unlabelled sample (pairs of raw scans,
      the hidden scenes of ``SyntheticSceneFlow(labeled_fraction=...)``).
      Code that needs ground truth tests ``'gt_flow' in data_sample``; the
      model's loss and :class:`~bpfn.evaluation.SceneFlowMetric` refuse
      such samples.
    * The per-point labels of the Threeway EPE when the sample has them
      (synthetic scenes): ``pc1_label`` ``(N,)`` int64 (-1 background, else
      the object index), ``ego_flow`` ``(N, 3)`` float32 (the flow of the
      sensor's motion alone) and ``frame_interval`` (float, seconds between
      the two clouds, from the dataset's metainfo). ``pc1_label`` and
      ``ego_flow`` come together or not at all, and need
      ``frame_interval``.

    * ``pc1_rows`` ``(N,)`` int64 when the sample has them (inference: the
      row of each point in the given cloud).

    Required keys: ``pc1``, ``pc2`` and the meta keys; optional ``flow``,
    ``pc1_label``, ``ego_flow``, ``frame_interval``, ``pc1_rows``.

    Args:
        meta_keys (Sequence[str]): Fields copied to ``data_samples``.
            Defaults to ('sample_idx', 'sample_name', 'dataset', 'camera').
        extra_tensor_keys (Sequence[str]): Further ``(N, 3)`` arrays to copy
            to ``data_samples`` as tensors. Defaults to ().
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = ('sample_idx', 'sample_name', 'dataset',
                                    'camera'),
        extra_tensor_keys: Sequence[str] = ()
    ) -> None:
        self.meta_keys = tuple(meta_keys)
        self.extra_tensor_keys = tuple(extra_tensor_keys)

    def _pack_labels(self, results: dict, data_sample: dict) -> None:
        # frame_interval alone (dataset metainfo) is no label.
        present = [key for key in LABEL_KEYS if key in results]
        if present in ([], ['frame_interval']):
            return
        missing = [key for key in LABEL_KEYS if key not in results]
        if missing:
            raise KeyError(
                f'PackFlowInputs: {_source(results)} has {present} but no '
                f'{missing}; the Threeway EPE labels {list(LABEL_KEYS)} come '
                'together')
        num = results['pc1'].shape[0]
        label = np.asarray(results['pc1_label'])
        ego = np.asarray(results['ego_flow'])
        if label.shape != (num, ) or ego.shape != (num, 3):
            raise ValueError(
                f'PackFlowInputs: {_source(results)}: pc1_label {label.shape} '
                f'and ego_flow {ego.shape} must have one row per pc1 row '
                f'({num}); a transform dropped or reordered pc1 rows without '
                'them')
        interval = float(results['frame_interval'])
        if not interval > 0:
            raise ValueError(
                f'PackFlowInputs: {_source(results)}: frame_interval must be '
                f'a positive number of seconds, got {interval}')
        data_sample['pc1_label'] = torch.from_numpy(label.astype(np.int64))
        data_sample['ego_flow'] = _to_tensor(ego)
        data_sample['frame_interval'] = interval

    def transform(self, results: dict) -> dict:
        """Pack one sample.

        Args:
            results (dict): Result dict.

        Returns:
            dict: ``dict(inputs=dict(pc1, pc2), data_samples=dict(...))``.
        """
        for key in ('pc1', 'pc2', *self.meta_keys, *self.extra_tensor_keys):
            if key not in results:
                raise KeyError(f'PackFlowInputs: the sample has no {key!r} '
                               f'entry (keys: {sorted(results)})')
        inputs = dict(
            pc1=_to_tensor(results['pc1']), pc2=_to_tensor(results['pc2']))
        data_sample = {}
        if 'flow' in results:
            if results['flow'].shape != results['pc1'].shape:
                raise ValueError(
                    f'PackFlowInputs: {_source(results)}: flow '
                    f'{results["flow"].shape} must have the shape of pc1 '
                    f'{results["pc1"].shape}')
            data_sample['gt_flow'] = _to_tensor(results['flow'])
        for key in self.meta_keys:
            value = results[key]
            if key == 'sample_idx':
                value = int(value)
            data_sample[key] = value
        for key in self.extra_tensor_keys:
            data_sample[key] = _to_tensor(results[key])
        if 'pc1_rows' in results:  # inference: rows of the given cloud
            data_sample['pc1_rows'] = torch.from_numpy(
                np.asarray(results['pc1_rows'], dtype=np.int64))
        self._pack_labels(results, data_sample)
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(meta_keys={self.meta_keys}, '
                f'extra_tensor_keys={self.extra_tensor_keys})')
