"""Batches that mix samples with and without ground-truth flow.

A data sample without a ``gt_flow`` entry is unlabelled (see
:class:`~bpfn.datasets.transforms.PackFlowInputs`): unlabelled scans, the
hidden scenes of ``SyntheticSceneFlow(labeled_fraction=...)``. A distiller
trains on such batches as follows:

* ``loss_gt`` is the student's GT loss on the labelled samples alone, as a
  batch of them (:func:`labeled_gt_loss`): the mean over the labelled
  samples of the per-sample GT loss, times the GT factors. Its scale does
  not depend on the labelled share; a batch without a labelled sample has
  ``loss_gt = 0``.
* The distillation terms are computed on every sample (means over the whole
  batch); output KD takes its targets from the teacher. AIL has no teacher
  error on an unlabelled sample: there its trust is
  ``Phi = AILLoss.unlabeled_phi`` (1.0: plain imitation), said once in the
  log.
* The self-supervised losses (:class:`SelfSupervisedTerms`) train on the
  unlabelled samples or on all of them.
* ``labeled_frac``, the labelled share of the batch, is logged every
  iteration.

A batch with unlabelled samples and no loss that uses them is refused
(:func:`check_labeled`). Validation and testing still need ground truth on
every sample.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

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


def unlabeled_names(data_samples: Sequence[dict]) -> str:
    """``'<k> of <n> samples: <up to 5 names>'`` of the unlabelled ones."""
    missing = [ds for ds, labeled in zip(data_samples,
                                         labeled_samples(data_samples))
               if not labeled]
    names = ', '.join(repr(ds.get('sample_name', '?')) for ds in missing[:5])
    return f'{len(missing)} of {len(data_samples)} samples ({names})'


def check_labeled(data_samples: Sequence[dict], distill: bool,
                  self_supervised_on: Optional[str],
                  owner: str) -> Tuple[Tensor, Optional[str]]:
    """Which samples are labelled; refuse unlabelled ones nothing uses.

    Args:
        data_samples (Sequence[dict]): The batch.
        distill (bool): Distillation losses train on every sample.
        self_supervised_on (str, optional): The samples the self-supervised
            losses use (``'unlabeled'`` or ``'all'``), None without any.
        owner (str): The model's name, for the message.

    Returns:
        tuple[Tensor, str | None]: (B,) bool, True where a sample has
        ``gt_flow``; for a mixed batch a note of how each term uses it.
    """
    labeled = labeled_samples(data_samples)
    if bool(labeled.all()):
        return labeled, None
    if not distill and self_supervised_on is None:
        raise ValueError(
            f'{owner}: {unlabeled_names(data_samples)} of the batch have no '
            'ground truth (gt_flow); with neither '
            'distill_losses nor self_supervised_losses no loss can train on '
            'them. Add a distillation or self-supervised loss, or train on '
            'labelled data only')
    parts = ['loss_gt is the mean GT loss over the labelled samples of a '
             'batch (0 without any)']
    if distill:
        parts.append('the distillation terms use every sample')
    if self_supervised_on is not None:
        parts.append('the self-supervised terms use ' + (
            'the unlabelled samples' if self_supervised_on == 'unlabeled'
            else 'every sample'))
    return labeled, ('batches with samples without ground truth: ' +
                     ', '.join(parts) + '; labeled_frac logs the labelled '
                     'share')


def labeled_gt_loss(student: nn.Module, s_out: dict,
                    data_samples: List[dict], factor: float) -> Tensor:
    """The student's GT loss of the batch of its labelled samples alone.

    The student's loss of the outputs of those samples
    (:func:`select_samples`), times ``factor``: the mean over the labelled
    samples of the per-sample GT loss, whatever their share of the batch.
    Without a labelled sample it is 0 (a zero that keeps the student's
    graph, so that a step still runs).

    Args:
        student (nn.Module): The network, with ``loss(out, data_samples)``.
        s_out (dict): Its outputs of ``extract``.
        data_samples (list[dict]): With or without ``gt_flow`` (N, 3).
        factor (float): Factor on the loss.

    Returns:
        Tensor: Scalar loss.
    """
    labeled = labeled_samples(data_samples)
    if not bool(labeled.any()):
        return s_out['flows'][0].sum() * 0.0
    if not bool(labeled.all()):
        index = torch.nonzero(labeled).flatten()
        s_out = select_samples(s_out, index)
        data_samples = [data_samples[i] for i in index.tolist()]
    return factor * sum(student.loss(s_out, data_samples).values())
