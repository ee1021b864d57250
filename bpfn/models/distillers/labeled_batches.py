"""Batches that mix samples with and without ground-truth flow.

A data sample without a ``gt_flow`` entry is unlabelled (see
:class:`~bpfn.datasets.transforms.PackFlowInputs`). The distiller trains
on such batches with these helpers: which samples are labelled, the
network's outputs of a subset of the samples, and ground-truth targets
that hold zeros on the unlabelled rows (for losses that take a mask).
"""
from typing import Dict, List, Sequence

import torch
from torch import Tensor

from ..losses import subsample_flow


def labeled_samples(data_samples: Sequence[dict]) -> Tensor:
    """Which samples of a batch carry ground truth (a ``gt_flow`` entry).

    Args:
        data_samples (Sequence[dict]): The batch's data samples.

    Returns:
        Tensor: (B,) bool, on the CPU.
    """
    return torch.tensor([isinstance(ds, dict) and 'gt_flow' in ds
                         for ds in data_samples], dtype=torch.bool)


def select_samples(out: Dict[str, object], index: Tensor) -> dict:
    """The network outputs of some samples of the batch.

    Every tensor, and every tensor of a list or tuple, of ``out`` is
    indexed along its first (batch) dimension; other values are kept.

    Args:
        out (dict): Outputs of ``BiPointFlowNet.extract`` (``flows``
            (B, N_l, 3), ``fps_idx_pc1`` (B, S_l), ``pc1`` (B, N_l, 3), ...).
        index (Tensor): Sample indices (K,) or a (B,) bool mask.

    Returns:
        dict: The same keys, batch dimension K.
    """
    selected = {}
    for key, value in out.items():
        if isinstance(value, Tensor):
            selected[key] = value[index.to(value.device)]
        elif isinstance(value, (list, tuple)) and all(
                isinstance(v, Tensor) for v in value):
            selected[key] = [v[index.to(v.device)] for v in value]
        else:
            selected[key] = value
    return selected


def gt_targets_or_zeros(s_out: dict,
                        data_samples: Sequence[dict]) -> List[Tensor]:
    """Ground truth at the student's points of every level, zeros where a
    sample has none.

    Args:
        s_out (dict): Student outputs of ``extract`` (``pc1`` (B, N_l, 3),
            ``flows``, ``fps_idx_pc1``).
        data_samples (Sequence[dict]): The batch, with or without
            ``gt_flow`` (N, 3) each.

    Returns:
        list[Tensor]: (B, N_l, 3) per student level, full resolution first;
        the rows of unlabelled samples are zeros (use them with the mask of
        :func:`labeled_samples`).
    """
    flows = s_out['flows']
    like = s_out['pc1'][0]
    gt = torch.stack([
        ds['gt_flow'].to(like) if 'gt_flow' in ds else torch.zeros_like(
            like[i]) for i, ds in enumerate(data_samples)
    ])
    return subsample_flow(gt, s_out['fps_idx_pc1'][:len(flows) - 1])
