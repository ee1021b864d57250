"""Pack a sample into the model's input format."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


@TRANSFORMS.register_module()
class PackFlowInputs(BaseTransform):
    """Produce ``dict(inputs=..., data_samples=...)``.

    ``inputs`` holds ``pc1`` and ``pc2`` as float32 tensors ``(N, 3)``;
    ``data_samples`` holds ``gt_flow`` ``(N, 3)`` and the meta fields
    (``sample_idx`` as int, ``sample_name``, ``dataset``, ``camera``:
    ``'ft3d'`` or ``{'P_rect_02': 3x4 nested list}``).

    Required keys: ``pc1``, ``pc2``, ``flow`` and the meta keys.

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

    def transform(self, results: dict) -> dict:
        """Pack one sample.

        Args:
            results (dict): Result dict.

        Returns:
            dict: ``dict(inputs=dict(pc1, pc2), data_samples=dict(...))``.
        """
        for key in ('pc1', 'pc2', 'flow', *self.meta_keys,
                    *self.extra_tensor_keys):
            if key not in results:
                raise KeyError(f'PackFlowInputs: the sample has no {key!r} '
                               f'entry (keys: {sorted(results)})')
        inputs = dict(
            pc1=_to_tensor(results['pc1']), pc2=_to_tensor(results['pc2']))
        data_sample = dict(gt_flow=_to_tensor(results['flow']))
        for key in self.meta_keys:
            value = results[key]
            if key == 'sample_idx':
                value = int(value)
            data_sample[key] = value
        for key in self.extra_tensor_keys:
            data_sample[key] = _to_tensor(results[key])
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(meta_keys={self.meta_keys}, '
                f'extra_tensor_keys={self.extra_tensor_keys})')
