"""The teacher of a distiller: building it, and its flows and errors at
the student's points.

Both networks sample with furthest point sampling from index 0, so with
equal ``num_points`` they pick the same points and the teacher's flow of
every level is the target of the student's level. Otherwise the teacher's
full-resolution (level 0) flow is subsampled along the student's sampling
chain.
"""
from typing import List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from bpfn.registry import MODELS
from bpfn.utils import (CheckpointError, load_model_weights,
                        resolve_teacher_checkpoint)
from ..losses import subsample_flow, teacher_errors
from .eval_mode import evaluating


def build_teacher(teacher: Optional[dict], teacher_ckpt: Optional[str],
                  required: bool,
                  device: torch.device) -> Tuple[Optional[nn.Module],
                                                 Optional[str]]:
    """The frozen teacher (eval mode, no gradients) and its checkpoint path.

    Args:
        teacher (dict, optional): ``model.teacher``, the teacher's config.
        teacher_ckpt (str, optional): ``model.teacher_ckpt``, a checkpoint
            file or a work dir (:func:`resolve_teacher_checkpoint`).
        required (bool): The distiller's losses need a teacher.
        device (torch.device): Where the weights are loaded.

    Returns:
        tuple: The teacher and the resolved path, or (None, None) without
        a teacher config.
    """
    if teacher is None:
        if required:
            raise ValueError(
                'model.teacher is required by model.distill_losses; give the '
                'teacher config, or remove the distillation losses to train '
                'on GT and self-supervision alone')
        if teacher_ckpt:
            raise ValueError(
                f'model.teacher_ckpt={teacher_ckpt!r} is given but '
                'model.teacher is None; give the teacher config too')
        return None, None
    model = MODELS.build(teacher)
    path = resolve_teacher_checkpoint(teacher_ckpt)
    try:
        load_model_weights(model, path, map_location=device)
    except CheckpointError as exc:
        raise CheckpointError(f'model.teacher_ckpt: {exc}') from exc
    print_log(f'teacher weights loaded from {path}', logger='current')
    return model.requires_grad_(False).eval(), path


def teacher_targets(s_out: dict, t_out: dict) -> List[Tensor]:
    """Teacher flows (B, N_l, 3) at the student's points of every level.

    Args:
        s_out (dict): Student outputs of ``extract``.
        t_out (dict): Teacher outputs of ``extract``.
    """
    s_idx, t_idx = s_out['fps_idx_pc1'], t_out['fps_idx_pc1']
    levels = len(s_out['flows'])
    same = levels <= len(t_out['flows']) and all(
        a.shape == b.shape and torch.equal(a, b)
        for a, b in zip(s_idx, t_idx))
    if same:
        return list(t_out['flows'][:levels])
    return subsample_flow(t_out['flows'][0], s_idx[:levels - 1])


@torch.no_grad()
def teacher_point_errors(student: nn.Module, teacher: nn.Module,
                         inputs: dict, data_samples: List[dict],
                         squared: bool = True) -> List[Tensor]:
    """The teacher's per-point errors at the student's points.

    The errors :class:`~bpfn.models.losses.AILLoss` weighs with: per level,
    ``||p_T - p_gt||^2`` (or ``||.||``) of the teacher targets against the
    ground truth at the student's points. With equal ``num_points`` both
    nets sample the same points, so the student is not run.

    Args:
        student (nn.Module): The student network.
        teacher (nn.Module): The teacher network.
        inputs (dict): ``pc1`` and ``pc2`` (B, N, 3).
        data_samples (list[dict]): With ``gt_flow`` (N, 3).
        squared (bool): Squared end-point errors. Defaults to True.

    Returns:
        list[Tensor]: Errors (B, N_l) per student level.
    """
    t_out = teacher(inputs, mode='tensor')
    if getattr(student, 'num_points', None) == getattr(
            teacher, 'num_points', None):
        s_out = t_out
    else:
        with evaluating(student):
            s_out = student(inputs, mode='tensor')
    flows = s_out['flows']
    gt = student.stack_gt_flow(data_samples).to(flows[0])
    gt_targets = subsample_flow(gt, s_out['fps_idx_pc1'][:len(flows) - 1])
    return [teacher_errors(t, g, squared)
            for t, g in zip(teacher_targets(s_out, t_out), gt_targets)]
