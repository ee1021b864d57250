"""The distillation entries of a distiller config.

Each ``distill_losses`` entry is a loss config plus, for a feature loss,
the modules it pairs. Losses are routed by their base class
(:mod:`bpfn.models.losses.distill_loss`): a feature loss
(:class:`~bpfn.models.losses.BaseFeatureDistillLoss`: ``HintLoss``,
``BiHintLoss``) takes ``student`` and ``teacher`` module names (a name or
lists of equal length; ``'name[i]'`` picks item ``i`` of a module returning
a tuple) and an optional ``adapter`` config, built once per pair with the
channels found on a dry run. An output loss
(:class:`~bpfn.models.losses.BaseOutputDistillLoss`: ``OutputKDLoss``,
``AILLoss``) takes no names.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from bpfn.registry import MODELS
from ..losses import (BaseFeatureDistillLoss, BaseOutputDistillLoss,
                      BaseSelfSupervisedLoss)
from .eval_mode import evaluating
from .recorder import RecorderManager

#: Points of the random pair of the dry run (or the nets' minimum).
DRY_RUN_POINTS = 256
#: A pair: student tap, teacher tap, adapter key (None: no adapter).
Pair = Tuple[str, str, Optional[str]]


class DistillEntries:
    """The parsed ``model.distill_losses`` of a distiller.

    Args:
        entries (Sequence[dict]): Loss configs with their pairs.

    Attributes:
        losses (nn.ModuleList): The built losses, in config order.
        pairs (list[list[Pair]]): Per loss its pairs (empty for output
            losses).
        adapter_cfgs (dict): Adapter config per adapter key.
        taps (dict): Per role (``'student'``, ``'teacher'``) the tapped
            module names and the config field naming each first.
    """

    def __init__(self, entries: Sequence[dict]) -> None:
        self.losses = nn.ModuleList()
        self.pairs: List[List[Pair]] = []
        self.adapter_cfgs: Dict[str, dict] = {}
        self.taps: Dict[str, Dict[str, str]] = dict(student={}, teacher={})
        for i, entry in enumerate(entries):
            self._add(i, dict(entry))

    def _add(self, i: int, entry: dict) -> None:
        field = f'model.distill_losses[{i}]'
        s_names, t_names = entry.pop('student', None), entry.pop(
            'teacher', None)
        adapter = entry.pop('adapter', None)
        loss = MODELS.build(entry)
        self.losses.append(loss)
        if isinstance(loss, BaseOutputDistillLoss):
            if s_names or t_names:
                raise ValueError(f'{field}: {entry["type"]} compares flows; '
                                 'remove student/teacher names')
            self.pairs.append([])
            return
        if isinstance(loss, BaseSelfSupervisedLoss):
            raise ValueError(
                f'{field}: {entry["type"]} is a self-supervised loss (no '
                'teacher); put it in model.self_supervised_losses')
        if not isinstance(loss, BaseFeatureDistillLoss):
            raise TypeError(
                f'{field}: {entry["type"]} is not a distillation loss: '
                'derive it from BaseFeatureDistillLoss (features of named '
                'modules) or BaseOutputDistillLoss (flows)')
        s_names = tap_names(s_names, f'{field}.student')
        t_names = tap_names(t_names, f'{field}.teacher')
        if len(s_names) != len(t_names):
            raise ValueError(f'{field}: {len(s_names)} student names but '
                             f'{len(t_names)} teacher names')
        loss.check_taps(s_names, t_names, field)
        pairs = []
        for j, (s, t) in enumerate(zip(s_names, t_names)):
            key = None
            if adapter is not None:
                key = str(i) if len(s_names) == 1 else f'{i}_{j}'
                self.adapter_cfgs[key] = dict(adapter)
            pairs.append((s, t, key))
            self.taps['student'].setdefault(s, f'{field}.student')
            self.taps['teacher'].setdefault(t, f'{field}.teacher')
        self.pairs.append(pairs)


def tap_names(names: Union[str, Sequence[str], None],
              field: str) -> List[str]:
    """The module names of one side of an entry, as a list."""
    if not names:
        raise ValueError(f'{field} is required: the name of a module '
                         "(e.g. 'cross2.embedding_12') or a list of them")
    return [names] if isinstance(names, str) else list(names)


def loss_name(index: int, loss: nn.Module) -> str:
    """The log key of entry ``index``: ``loss_<type><index>``."""
    kind = type(loss).__name__.replace('Loss', '').lower()
    return f'loss_{kind}{index}'


def check_pair(field: str, s_tap: str, t_tap: str, s: Tensor, t: Tensor,
               adapted: bool) -> None:
    """Refuse a pair whose recorded features cannot be compared.

    Args:
        field (str): Config field of the entry, for messages.
        s_tap, t_tap (str): The student's and the teacher's module names.
        s, t (Tensor): Their recorded features, (B, N, C) each.
        adapted (bool): An adapter maps the student's channels.
    """
    for role, tap, x in (('student', s_tap, s), ('teacher', t_tap, t)):
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ValueError(
                f'{field}.{role}: {tap!r} gives '
                f'{getattr(x, "shape", type(x).__name__)}, expected '
                'features (B, N, C)')
    if s.shape[1] != t.shape[1]:
        raise ValueError(
            f'{field}: {s_tap!r} has {s.shape[1]} points in the student but '
            f'{t_tap!r} has {t.shape[1]} in the teacher; pair modules of the '
            'same level (set equal num_points)')
    if not adapted and s.shape[2] != t.shape[2]:
        raise ValueError(
            f'{field}: channel mismatch, student {s_tap!r} '
            f'{tuple(s.shape)} vs teacher {t_tap!r} {tuple(t.shape)} '
            "(B, N, C); add adapter=dict(type='ConvAdapter') to the entry")


@torch.no_grad()
def dry_run_adapters(entries: DistillEntries, student: nn.Module,
                     teacher: nn.Module,
                     recorders: RecorderManager) -> Dict[str, nn.Module]:
    """Run both nets on a tiny random pair, check every pair, build the
    adapters with the channels found.

    Returns:
        dict: Adapter key -> adapter, on the student's device.
    """
    num = max(getattr(student, 'min_input_points', DRY_RUN_POINTS),
              getattr(teacher, 'min_input_points', DRY_RUN_POINTS))
    gen = torch.Generator().manual_seed(0)
    pc1 = torch.rand(1, num, 3, generator=gen)
    pc2 = pc1 + 0.05 * torch.rand(1, num, 3, generator=gen)
    device = next(student.parameters()).device
    inputs = dict(pc1=pc1.to(device), pc2=pc2.to(device))
    adapters = {}
    # Eval mode: no BatchNorm statistics updates.
    with evaluating(student), recorders.step(full_size=False):
        student(inputs, mode='tensor')
        teacher(inputs, mode='tensor')
        for i, pairs in enumerate(entries.pairs):
            for s_tap, t_tap, key in pairs:
                s = recorders['student'].feature(s_tap)
                t = recorders['teacher'].feature(t_tap)
                check_pair(f'model.distill_losses[{i}]', s_tap, t_tap, s, t,
                           key is not None)
                if key is not None:
                    cfg = dict(entries.adapter_cfgs[key],
                               in_channels=s.shape[2],
                               out_channels=t.shape[2])
                    adapters[key] = MODELS.build(cfg).to(device)
    return adapters


def feature_loss(loss: nn.Module, pairs: Sequence[Pair],
                 recorders: RecorderManager,
                 adapters: nn.ModuleDict) -> Tensor:
    """A feature loss of the recorded (adapted) features of its pairs."""
    s_feats, t_feats = [], []
    for s_tap, t_tap, key in pairs:
        s = recorders['student'].feature(s_tap)
        s_feats.append(s if key is None else adapters[key](s))
        t_feats.append(recorders['teacher'].feature(t_tap))
    return loss(s_feats, t_feats)
