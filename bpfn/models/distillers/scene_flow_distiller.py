"""Knowledge distillation of a scene-flow teacher into a student."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor, nn

from bpfn.registry import MODELS
from bpfn.utils import (CheckpointError, load_model_weights,
                        resolve_teacher_checkpoint)
from ..losses import (BaseFeatureDistillLoss, BaseOutputDistillLoss,
                      BaseSelfSupervisedLoss, subsample_flow, teacher_errors)
from .labeled_batches import (gt_targets_or_zeros, labeled_samples,
                              select_samples)
from .recorder import FeatureRecorder, RecorderManager
from .self_supervised_terms import SelfSupervisedTerms
_DRY_RUN_POINTS = 256


@MODELS.register_module()
class SceneFlowDistiller(BaseModel):
    """Distil a frozen teacher into a student, pairs declared inline.

    The teacher is kept outside the module tree (a plain attribute): it has
    no entry in :meth:`parameters` (so no optimizer sees it), none in
    :meth:`state_dict` (so checkpoints hold ``student.*`` and ``adapters.*``
    only and load with the student's config), and :meth:`train` never
    switches it out of eval mode. ``.to()``/``.cuda()`` move it with the
    student (:meth:`_apply`). It runs once per training step under
    ``torch.no_grad()``; prediction runs the student alone.

    Each ``distill_losses`` entry is a loss config plus its pairs, routed
    by the loss's base class (:mod:`bpfn.models.losses.distill_loss`):
    feature losses (:class:`~bpfn.models.losses.BaseFeatureDistillLoss`:
    ``HintLoss``, ``BiHintLoss``) take ``student`` and ``teacher`` module
    names (a name, or a list of names of equal length; ``'name[i]'`` picks
    item ``i`` of a module returning a tuple) and an optional ``adapter``
    config built once per pair with the channels found on a dry run. Output
    losses (:class:`~bpfn.models.losses.BaseOutputDistillLoss`:
    ``OutputKDLoss``, ``AILLoss``) take no names. Every pair is checked at
    build time. The tapped modules' outputs are recorded by forward hooks
    (:class:`~bpfn.models.distillers.recorder.RecorderManager`) only within
    a training step.

    Teacher flows at the student's points: both networks sample with
    furthest point sampling from index 0, so with equal ``num_points`` they
    pick the same points and the teacher's flow of every level is used.
    Otherwise the teacher's full-resolution (level 0) flow is subsampled
    along the student's sampling chain.

    FitNets' two-stage recipe: while :attr:`hint_only` is set
    (:class:`~bpfn.engine.hooks.FitNetsStageHook`, for the first epochs),
    the loss is the feature losses alone: the student runs only up to its
    last tapped module, so only its layers below the guided ones (and the
    adapters) are trained; the GT, output-KD and self-supervised terms are
    logged as 0.

    Samples without ground truth (no ``gt_flow`` entry: unlabelled scans,
    the hidden scenes of ``SyntheticSceneFlow(labeled_fraction=...)``) may
    be mixed into the training batches:

    * ``loss_gt`` is the student's GT loss on the labelled samples alone,
      as a batch of them: the mean over the labelled samples of the
      per-sample GT loss (the multi-scale loss sums over points and
      averages over samples), times the GT factors. Its scale does not
      depend on the labelled share; a batch without a labelled sample has
      ``loss_gt = 0``.
    * The distillation terms are computed on every sample (means over the
      whole batch); output KD takes its targets from the teacher. AIL has
      no teacher error on an unlabelled sample: there its trust is
      ``Phi = AILLoss.unlabeled_phi`` (1.0: plain imitation), said once in
      the log.
    * ``self_supervised_losses`` (PointPWC-Net's ``ChamferLoss``,
      ``SmoothnessLoss``, ``LaplacianLoss``) train on the unlabelled
      samples (``self_supervised_on='unlabeled'``) or on all of them
      (``'all'``), each the mean over those samples, 0 in a batch without
      any. They need no teacher: without ``distill_losses`` the teacher
      may be omitted (``teacher=None``), which trains the student on GT
      plus self-supervision alone.
    * ``labeled_frac``, the share of labelled samples of the batch, is
      logged every iteration.

    A batch with unlabelled samples and no loss that uses them (no
    distillation and no self-supervised loss) is refused. Validation and
    testing still need ground truth on every sample (the model's loss and
    ``SceneFlowMetric`` refuse unlabelled samples).

    Args:
        student (dict): Config of the student model.
        teacher (dict, optional): Config of the teacher model; required
            with ``distill_losses``. Defaults to None.
        teacher_ckpt (str): Teacher checkpoint (bpfn or original BPF file,
            or a work dir with a ``last_checkpoint`` pointer).
        distill_losses (Sequence[dict]): Loss entries (see above).
            Defaults to ().
        gt_loss_weight (float): Factor on the student's own GT loss.
            Defaults to 1.0.
        self_supervised_losses (Sequence[dict]): Self-supervised loss
            configs, at most one of each type. Defaults to ().
        self_supervised_on (str): ``'unlabeled'`` or ``'all'``: the samples
            the self-supervised losses train on. Defaults to
            ``'unlabeled'``.
        data_preprocessor (dict, optional): Defaults to the student's.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 student: dict,
                 teacher: Optional[dict] = None,
                 teacher_ckpt: Optional[str] = None,
                 distill_losses: Sequence[dict] = (),
                 gt_loss_weight: float = 1.0,
                 self_supervised_losses: Sequence[dict] = (),
                 self_supervised_on: str = 'unlabeled',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None and isinstance(student, dict):
            data_preprocessor = student.get('data_preprocessor')
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.student = MODELS.build(student)
        device = next(self.student.parameters()).device
        if teacher is None:
            if distill_losses:
                raise ValueError(
                    'model.teacher is required by model.distill_losses; '
                    'give the teacher config, or remove the distillation '
                    'losses to train on GT and self-supervision alone')
            if teacher_ckpt:
                raise ValueError(
                    f'model.teacher_ckpt={teacher_ckpt!r} is given but '
                    'model.teacher is None; give the teacher config too')
            teacher_model, path = None, None
        else:
            teacher_model = MODELS.build(teacher)
            path = resolve_teacher_checkpoint(teacher_ckpt)
            try:
                load_model_weights(teacher_model, path, map_location=device)
            except CheckpointError as exc:
                raise CheckpointError(f'model.teacher_ckpt: {exc}') from exc
            print_log(f'teacher weights loaded from {path}', logger='current')
            teacher_model.requires_grad_(False).eval()
        # Outside the module tree on purpose, see the class docstring.
        object.__setattr__(self, 'teacher', teacher_model)
        self.teacher_ckpt = path
        self.gt_loss_weight = gt_loss_weight

        self.distill_losses = nn.ModuleList()
        self.adapters = nn.ModuleDict()
        # Per loss: list of (student tap, teacher tap, adapter key or None).
        self.pairs: List[List[Tuple[str, str, Optional[str]]]] = []
        adapter_cfgs: Dict[str, dict] = {}
        taps: Dict[str, Dict[str, str]] = dict(student={}, teacher={})
        for i, entry in enumerate(distill_losses):
            entry = dict(entry)
            field = f'model.distill_losses[{i}]'
            s_names, t_names = entry.pop('student', None), entry.pop(
                'teacher', None)
            adapter = entry.pop('adapter', None)
            loss = MODELS.build(entry)
            self.distill_losses.append(loss)
            if isinstance(loss, BaseOutputDistillLoss):
                if s_names or t_names:
                    raise ValueError(f'{field}: {entry["type"]} compares '
                                     'flows; remove student/teacher names')
                self.pairs.append([])
                continue
            if isinstance(loss, BaseSelfSupervisedLoss):
                raise ValueError(
                    f'{field}: {entry["type"]} is a self-supervised loss '
                    '(no teacher); put it in model.self_supervised_losses')
            if not isinstance(loss, BaseFeatureDistillLoss):
                raise TypeError(
                    f'{field}: {entry["type"]} is not a distillation loss: '
                    'derive it from BaseFeatureDistillLoss (features of '
                    'named modules) or BaseOutputDistillLoss (flows)')
            s_names = self._names(s_names, f'{field}.student')
            t_names = self._names(t_names, f'{field}.teacher')
            if len(s_names) != len(t_names):
                raise ValueError(f'{field}: {len(s_names)} student names but '
                                 f'{len(t_names)} teacher names')
            loss.check_taps(s_names, t_names, field)
            pairs = []
            for j, (s, t) in enumerate(zip(s_names, t_names)):
                key = None
                if adapter is not None:
                    key = str(i) if len(s_names) == 1 else f'{i}_{j}'
                    adapter_cfgs[key] = dict(adapter)
                pairs.append((s, t, key))
                taps['student'].setdefault(s, f'{field}.student')
                taps['teacher'].setdefault(t, f'{field}.teacher')
            self.pairs.append(pairs)
        self.self_supervised_losses = SelfSupervisedTerms(
            self_supervised_losses, self_supervised_on)
        #: Messages about unlabelled samples already logged (once each).
        self._said: set = set()
        #: FitNets stage 1: train on the feature losses alone.
        self.hint_only = False
        # Forward hooks on the tapped modules; they record within a step.
        self.recorders = RecorderManager(
            FeatureRecorder(role, model, taps[role])
            for role, model in (('student', self.student),
                                ('teacher', teacher_model))
            if model is not None)
        if any(self.pairs):
            self._dry_run(adapter_cfgs)

    # ------------------------------------------------------------------
    @staticmethod
    def _names(names: Union[str, Sequence[str], None],
               field: str) -> List[str]:
        if not names:
            raise ValueError(f'{field} is required: the name of a module '
                             "(e.g. 'cross2.embedding_12') or a list of them")
        return [names] if isinstance(names, str) else list(names)

    @torch.no_grad()
    def _dry_run(self, adapter_cfgs: Dict[str, dict]) -> None:
        """Run both nets on a tiny random pair, check pairs, build adapters."""
        num = max(getattr(self.student, 'min_input_points', _DRY_RUN_POINTS),
                  getattr(self.teacher, 'min_input_points', _DRY_RUN_POINTS))
        gen = torch.Generator().manual_seed(0)
        pc1 = torch.rand(1, num, 3, generator=gen)
        pc2 = pc1 + 0.05 * torch.rand(1, num, 3, generator=gen)
        device = next(self.student.parameters()).device
        inputs = dict(pc1=pc1.to(device), pc2=pc2.to(device))
        was_training = self.student.training
        self.student.eval()  # no BatchNorm statistics updates
        try:
            with self.recorders.step(full_size=False):
                self.student(inputs, mode='tensor')
                self.teacher(inputs, mode='tensor')
                self._check_pairs(adapter_cfgs, device)
        finally:
            self.student.train(was_training)

    def _check_pairs(self, adapter_cfgs: Dict[str, dict],
                     device: torch.device) -> None:
        """Check the recorded pairs' shapes; build their adapters."""
        for i, pairs in enumerate(self.pairs):
            for s_tap, t_tap, key in pairs:
                field = f'model.distill_losses[{i}]'
                s = self.recorders['student'].feature(s_tap)
                t = self.recorders['teacher'].feature(t_tap)
                for role, tap, x in (('student', s_tap, s),
                                     ('teacher', t_tap, t)):
                    if not isinstance(x, Tensor) or x.dim() != 3:
                        raise ValueError(
                            f'{field}.{role}: {tap!r} gives '
                            f'{getattr(x, "shape", type(x).__name__)}, '
                            'expected features (B, N, C)')
                if s.shape[1] != t.shape[1]:
                    raise ValueError(
                        f'{field}: {s_tap!r} has {s.shape[1]} points in the '
                        f'student but {t_tap!r} has {t.shape[1]} in the '
                        'teacher; pair modules of the same level (set equal '
                        'num_points)')
                if key is None:
                    if s.shape[2] != t.shape[2]:
                        raise ValueError(
                            f'{field}: channel mismatch, student {s_tap!r} '
                            f'{tuple(s.shape)} vs teacher {t_tap!r} '
                            f'{tuple(t.shape)} (B, N, C); add '
                            "adapter=dict(type='ConvAdapter') to the entry")
                    continue
                cfg = dict(adapter_cfgs[key], in_channels=s.shape[2],
                           out_channels=t.shape[2])
                self.adapters[key] = MODELS.build(cfg).to(device)

    # ------------------------------------------------------------------
    def _apply(self, fn, *args, **kwargs):
        """Apply ``fn`` (``.to()``, ``.cuda()``, ...) to the teacher too."""
        super()._apply(fn, *args, **kwargs)
        if self.teacher is not None:
            self.teacher._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True) -> 'SceneFlowDistiller':
        """Set the student's mode; the teacher stays in eval mode."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def forward(self,
                inputs: dict,
                data_samples: Optional[List[dict]] = None,
                mode: str = 'tensor') -> Union[dict, List[dict]]:
        """``'loss'`` distils; ``'predict'`` and ``'tensor'`` run the student.

        Args:
            inputs (dict): ``pc1`` and ``pc2`` (B, N, 3).
            data_samples (list[dict], optional): With ``gt_flow`` (N, 3).
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode=mode)

    def teacher_targets(self, s_out: dict, t_out: dict) -> List[Tensor]:
        """Teacher flows (B, N_l, 3) at the student's points of every level.

        Args:
            s_out (dict): Student outputs of ``extract``.
            t_out (dict): Teacher outputs of ``extract``.
        """
        s_idx, t_idx = s_out['fps_idx_pc1'], t_out['fps_idx_pc1']
        same = len(s_out['flows']) <= len(t_out['flows']) and all(
            a.shape == b.shape and torch.equal(a, b)
            for a, b in zip(s_idx, t_idx))
        if same:
            return list(t_out['flows'][:len(s_out['flows'])])
        return subsample_flow(t_out['flows'][0],
                              s_idx[:len(s_out['flows']) - 1])

    def distill_loss(self, inputs: dict, data_samples: List[dict],
                     s_out: dict,
                     t_out: Optional[dict]) -> Dict[str, Tensor]:
        """GT, distillation and self-supervised losses from the outputs.

        The hooks must have recorded this step's features (both nets run on
        ``inputs`` just before). Samples without ``gt_flow`` are allowed:
        see the class docstring (GT term on the labelled samples, KD terms
        on all of them).

        Args:
            inputs (dict): ``pc1`` and ``pc2`` (B, N, 3).
            data_samples (list[dict]): With or without ``gt_flow`` (N, 3).
            s_out (dict): Student outputs of ``extract``.
            t_out (dict, optional): Teacher outputs of ``extract``; None
                when only feature losses are used (see :meth:`run_teacher`).

        Returns:
            dict: ``loss_gt``, one ``loss_<type><i>`` per distillation entry
            and one ``loss_<type>`` per self-supervised loss.
        """
        losses = self.gt_loss(s_out, data_samples)
        flows = s_out['flows']
        labeled = labeled_samples(data_samples).to(flows[0].device)
        gt_targets = t_targets = None
        for i, loss in enumerate(self.distill_losses):
            name = self._loss_name(i)
            note = loss.unlabeled_note()
            if note and not bool(labeled.all()):
                self._say_once(f'unlabeled{i}', f'{type(loss).__name__} '
                               f'(model.distill_losses[{i}]): {note}')
            if isinstance(loss, BaseOutputDistillLoss):
                if t_targets is None:
                    # Zeros on the unlabelled rows, masked by the losses.
                    gt_targets = gt_targets_or_zeros(s_out, data_samples)
                    t_targets = self.teacher_targets(s_out, t_out)
                losses[name] = loss(flows, t_targets, gt_targets,
                                    labeled=labeled)
            else:
                losses[name] = self._feature_loss(i)
        losses.update(self.self_supervised_losses(s_out, labeled))
        return losses

    def _say_once(self, key: str, message: str) -> None:
        """Log ``message`` the first time ``key`` comes up."""
        if key not in self._said:
            self._said.add(key)
            print_log(f'{type(self).__name__}: {message}', logger='current')

    def _feature_loss(self, index: int) -> Tensor:
        """Feature loss ``index`` from the recorded (adapted) features."""
        s_feats, t_feats = [], []
        for s_tap, t_tap, key in self.pairs[index]:
            s = self.recorders['student'].feature(s_tap)
            if key is not None:
                s = self.adapters[key](s)
            s_feats.append(s)
            t_feats.append(self.recorders['teacher'].feature(t_tap))
        return self.distill_losses[index](s_feats, t_feats)

    def _run_to_taps(self, role: str, inputs: dict) -> None:
        """Run a net only until its last tapped module has been recorded
        (:meth:`FeatureRecorder.run_to_last_tap`)."""
        model = self.student if role == 'student' else self.teacher
        self.recorders[role].run_to_last_tap(
            lambda: model(inputs, mode='tensor'))

    def run_teacher(self, inputs: dict,
                    features_only: bool = False) -> Optional[dict]:
        """Run the teacher once, only as far as the losses need.

        With feature losses only (or ``features_only``), the forward stops
        right after the last tapped teacher module (e.g. at ``cross2`` the
        finer levels 1 and 0, the most expensive ones, are skipped) and None
        is returned: the features are in the records. Otherwise the full
        outputs.

        Args:
            inputs (dict): ``pc1`` and ``pc2`` (B, N, 3).
            features_only (bool): Only the tapped features are needed, even
                if output losses are configured. Defaults to False.

        Returns:
            dict | None: The teacher outputs of ``extract``, or None when
            only its features are needed.
        """
        needs_outputs = not features_only and any(
            isinstance(loss, BaseOutputDistillLoss)
            for loss in self.distill_losses)
        if needs_outputs or not self.recorders['teacher'].names:
            return self.teacher(inputs, mode='tensor')
        self._run_to_taps('teacher', inputs)
        return None

    def _require_teacher(self, what: str) -> None:
        if self.teacher is None:
            raise RuntimeError(
                f'{type(self).__name__}: {what} needs a teacher, but '
                'model.teacher is None (GT and self-supervision only)')

    @torch.no_grad()
    def teacher_val_step(self, data: Union[dict, tuple, list]) -> List[dict]:
        """The teacher's predictions of a batch, as ``val_step`` gives them.

        For measuring the teacher on the validation data
        (:class:`~bpfn.engine.hooks.KDWeightScheduleHook`).

        Args:
            data (dict): A batch from the validation dataloader.

        Returns:
            list[dict]: Per-sample predictions of the teacher.
        """
        self._require_teacher('measuring the teacher')
        return self.teacher.val_step(data)

    @torch.no_grad()
    def teacher_point_errors(self, inputs: dict, data_samples: List[dict],
                             squared: bool = True) -> List[Tensor]:
        """The teacher's per-point errors at the student's points.

        The errors :class:`~bpfn.models.losses.AILLoss` weighs with: per
        level, ``||p_T - p_gt||^2`` (or ``||.||``) of the teacher targets
        against the ground truth at the student's points. With equal
        ``num_points`` both nets sample the same points (see the class
        docstring), so the student is not run.

        Args:
            inputs (dict): ``pc1`` and ``pc2`` (B, N, 3).
            data_samples (list[dict]): With ``gt_flow`` (N, 3).
            squared (bool): Squared end-point errors. Defaults to True.

        Returns:
            list[Tensor]: Errors (B, N_l) per student level.
        """
        self._require_teacher("the teacher's errors")
        t_out = self.teacher(inputs, mode='tensor')
        same = getattr(self.student, 'num_points', None) == getattr(
            self.teacher, 'num_points', None)
        if same:
            s_out = t_out
        else:
            was_training = self.student.training
            self.student.eval()
            try:
                s_out = self.student(inputs, mode='tensor')
            finally:
                self.student.train(was_training)
        flows = s_out['flows']
        gt = self.student.stack_gt_flow(data_samples).to(flows[0])
        gt_targets = subsample_flow(gt, s_out['fps_idx_pc1'][:len(flows) - 1])
        t_targets = self.teacher_targets(s_out, t_out)
        return [teacher_errors(t, g, squared)
                for t, g in zip(t_targets, gt_targets)]

    def _loss_name(self, index: int) -> str:
        loss = self.distill_losses[index]
        kind = type(loss).__name__.replace('Loss', '').lower()
        return f'loss_{kind}{index}'

    def gt_loss(self, s_out: dict,
                data_samples: List[dict]) -> Dict[str, Tensor]:
        """The student's GT loss on the labelled samples, scaled by every
        entry's GT factor.

        The student's loss of the batch of labelled samples alone (the
        outputs of those samples, :func:`select_samples`): the mean over
        the labelled samples of the per-sample GT loss, whatever their
        share of the batch. Without a labelled sample it is 0 (a zero that
        keeps the student's graph, so that a step still runs).

        Args:
            s_out (dict): Student outputs of ``extract``.
            data_samples (list[dict]): With or without ``gt_flow`` (N, 3).

        Returns:
            dict: ``loss_gt``.
        """
        gt_factor = self.gt_loss_weight
        for loss in self.distill_losses:
            gt_factor *= float(loss.gt_loss_factor)
        labeled = labeled_samples(data_samples)
        if not bool(labeled.any()):
            return dict(loss_gt=s_out['flows'][0].sum() * 0.0)
        if not bool(labeled.all()):
            index = torch.nonzero(labeled).flatten()
            s_out = select_samples(s_out, index)
            data_samples = [data_samples[i] for i in index.tolist()]
        gt_terms = self.student.loss(s_out, data_samples)
        return dict(loss_gt=gt_factor * sum(gt_terms.values()))

    def check_unlabeled(self, data_samples: List[dict]) -> Tensor:
        """Which samples are labelled; refuse unlabelled ones nothing uses.

        Args:
            data_samples (list[dict]): The batch.

        Returns:
            Tensor: (B,) bool, True where a sample has ``gt_flow``.
        """
        labeled = labeled_samples(data_samples)
        if bool(labeled.all()):
            return labeled
        if not self.distill_losses and not len(self.self_supervised_losses):
            missing = [data_samples[i] for i in
                       torch.nonzero(~labeled).flatten().tolist()]
            names = ', '.join(repr(ds.get('sample_name', '?'))
                              for ds in missing[:5])
            raise ValueError(
                f'{type(self).__name__}: {len(missing)} of '
                f'{len(data_samples)} samples of the batch have no ground '
                f'truth (gt_flow): {names}; with neither distill_losses nor '
                'self_supervised_losses no loss can train on them. Add a '
                'distillation or self-supervised loss, or train on '
                'labelled data only')
        parts = ['loss_gt is the mean GT loss over the labelled samples of '
                 'a batch (0 without any)']
        if self.distill_losses:
            parts.append('the distillation terms use every sample')
        if len(self.self_supervised_losses):
            parts.append('the self-supervised terms use '
                         + ('the unlabelled samples' if
                            self.self_supervised_losses.on == 'unlabeled'
                            else
                            'every sample'))
        self._say_once(
            'mixed', 'batches with samples without ground truth: '
            + ', '.join(parts) + '; labeled_frac logs the labelled share')
        return labeled

    def kd_off(self) -> bool:
        """Whether every distillation weight is 0 (e.g. after early stop)."""
        return len(self.distill_losses) > 0 and all(
            float(loss.loss_weight) == 0.0 for loss in self.distill_losses)

    def set_hint_only(self, hint_only: bool) -> None:
        """Switch FitNets' hint-only stage on or off.

        Args:
            hint_only (bool): Train on the feature losses alone.
        """
        if hint_only and not any(self.pairs):
            raise ValueError(
                'the hint-only stage (FitNetsStageHook) needs a feature '
                'loss (HintLoss or BiHintLoss) in model.distill_losses')
        self.hint_only = bool(hint_only)

    def hint_stage_loss(self, inputs: dict) -> Dict[str, Tensor]:
        """FitNets stage 1: the feature losses alone.

        Both nets run only up to their last tapped modules; ``loss_gt`` and
        the output losses are logged as 0.

        Args:
            inputs (dict): ``pc1`` and ``pc2`` (B, N, 3).

        Returns:
            dict: ``loss_gt`` (0) and one ``loss_<type><i>`` per entry.
        """
        self._run_to_taps('student', inputs)
        with torch.no_grad():
            self.run_teacher(inputs, features_only=True)
        losses = {self._loss_name(i): self._feature_loss(i)
                  for i, pairs in enumerate(self.pairs) if pairs}
        zero = next(iter(losses.values())).new_zeros(())
        out = dict(loss_gt=zero)
        for i in range(len(self.distill_losses)):
            out[self._loss_name(i)] = losses.get(self._loss_name(i), zero)
        out.update(self.self_supervised_losses.zeros(zero))
        return out

    def loss(self, inputs: dict,
             data_samples: List[dict]) -> Dict[str, Tensor]:
        """Run the student, the frozen teacher (no grad) and all losses.

        When every distillation weight is 0 (``KDWeightScheduleHook``
        after an early stop), or there is no distillation loss, the teacher
        is not run: the distillation terms are logged as zeros and the GT
        (and self-supervised) losses train the student. In the hint-only
        stage see :meth:`hint_stage_loss`. ``labeled_frac`` (the labelled
        share of the batch) is added to the log variables.
        """
        with self.recorders.step():
            labeled = self.check_unlabeled(data_samples)
            if self.hint_only:
                losses = self.hint_stage_loss(inputs)
            else:
                losses = self._loss(inputs, data_samples, labeled)
        losses['labeled_frac'] = losses['loss_gt'].new_tensor(
            float(labeled.float().mean()))
        return losses

    def _loss(self, inputs: dict, data_samples: List[dict],
              labeled: Tensor) -> Dict[str, Tensor]:
        s_out = self.student(inputs, mode='tensor')
        if self.distill_losses and not self.kd_off():
            with torch.no_grad():
                t_out = self.run_teacher(inputs)
            return self.distill_loss(inputs, data_samples, s_out, t_out)
        losses = self.gt_loss(s_out, data_samples)
        zero = losses['loss_gt'].new_zeros(())
        for i in range(len(self.distill_losses)):
            losses[self._loss_name(i)] = zero
        if self.distill_losses and not bool(labeled.all()) and not len(
                self.self_supervised_losses):
            self._say_once(
                'kd_off', 'every distillation weight is 0 (KD switched '
                'off): the samples without ground truth now get no loss')
        losses.update(self.self_supervised_losses(s_out, labeled))
        return losses
