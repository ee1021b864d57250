"""Knowledge distillation of a scene-flow teacher into a student."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor, nn

from bpfn.registry import MODELS
from ..losses import BaseOutputDistillLoss
from .distill_pairs import (DistillEntries, dry_run_adapters, feature_loss,
                            loss_name)
from .labeled_batches import (check_labeled, gt_targets_or_zeros,
                              labeled_gt_loss, labeled_samples)
from .recorder import FeatureRecorder, RecorderManager
from .self_supervised_terms import SelfSupervisedTerms
from .teacher import build_teacher, teacher_point_errors, teacher_targets


@MODELS.register_module()
class SceneFlowDistiller(BaseModel):
    """Distil a frozen teacher into a student, pairs declared inline.

    The teacher is kept outside the module tree (a plain attribute): it has
    no entry in :meth:`parameters` (so no optimizer sees it), none in
    :meth:`state_dict` (so checkpoints hold ``student.*`` and ``adapters.*``
    only and load with the student's config), and :meth:`train` never
    switches it out of eval mode. ``.to()``/``.cuda()`` move it with the
    student (:meth:`_apply`). It runs once per training step under
    ``torch.no_grad()``, only as far as the losses need
    (:meth:`run_teacher`); prediction runs the student alone.

    The ``distill_losses`` entries, their module pairs and adapters are
    described in :mod:`~bpfn.models.distillers.distill_pairs`; every pair
    is checked at build time, and the tapped modules' outputs are recorded
    by forward hooks (:class:`~bpfn.models.distillers.recorder.
    RecorderManager`) within a training step only. Output losses take the
    teacher's flows at the student's points
    (:mod:`~bpfn.models.distillers.teacher`). Samples without
    ground truth may be mixed into the training batches; how each term
    treats them is in :mod:`~bpfn.models.distillers.labeled_batches`.

    FitNets' two-stage recipe: while :attr:`hint_only` is set
    (:class:`~bpfn.engine.hooks.FitNetsStageHook`, for the first epochs),
    the loss is the feature losses alone (:meth:`hint_stage_loss`).

    Args:
        student (dict): Config of the student model.
        teacher (dict, optional): Config of the teacher model; required
            with ``distill_losses``. Without it the student trains on GT
            plus self-supervision alone. Defaults to None.
        teacher_ckpt (str): Teacher checkpoint (bpfn or original BPF file,
            or a work dir with a ``last_checkpoint`` pointer).
        distill_losses (Sequence[dict]): Loss entries. Defaults to ().
        gt_loss_weight (float): Factor on the student's own GT loss.
            Defaults to 1.0.
        self_supervised_losses (Sequence[dict]): Self-supervised loss
            configs (PointPWC-Net's ``ChamferLoss``, ``SmoothnessLoss``,
            ``LaplacianLoss``), at most one of each type. Defaults to ().
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
        teacher_model, path = build_teacher(
            teacher, teacher_ckpt, bool(distill_losses),
            next(self.student.parameters()).device)
        # Outside the module tree on purpose, see the class docstring.
        object.__setattr__(self, 'teacher', teacher_model)
        self.teacher_ckpt = path
        self.gt_loss_weight = gt_loss_weight

        entries = DistillEntries(distill_losses)
        self.distill_losses = entries.losses
        #: Per loss: its (student tap, teacher tap, adapter key) pairs.
        self.pairs = entries.pairs
        self.self_supervised_losses = SelfSupervisedTerms(
            self_supervised_losses, self_supervised_on)
        #: Messages about unlabelled samples already logged (once each).
        self._said: set = set()
        #: FitNets stage 1: train on the feature losses alone.
        self.hint_only = False
        # Forward hooks on the tapped modules; they record within a step.
        self.recorders = RecorderManager(
            FeatureRecorder(role, model, entries.taps[role])
            for role, model in (('student', self.student),
                                ('teacher', teacher_model))
            if model is not None)
        self.adapters = nn.ModuleDict()
        if any(self.pairs):
            self.adapters.update(dry_run_adapters(
                entries, self.student, teacher_model, self.recorders))

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

    #: Teacher flows at the student's points (:func:`teacher_targets`).
    teacher_targets = staticmethod(teacher_targets)

    def distill_loss(self, inputs: dict, data_samples: List[dict],
                     s_out: dict,
                     t_out: Optional[dict]) -> Dict[str, Tensor]:
        """GT, distillation and self-supervised losses from the outputs.

        The hooks must have recorded this step's features (both nets run on
        ``inputs`` just before). Samples without ``gt_flow`` are allowed
        (:mod:`~bpfn.models.distillers.labeled_batches`).

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
            note = loss.unlabeled_note()
            if note and not bool(labeled.all()):
                self._say_once(f'unlabeled{i}', f'{type(loss).__name__} '
                               f'(model.distill_losses[{i}]): {note}')
            if isinstance(loss, BaseOutputDistillLoss):
                if t_targets is None:
                    # Zeros on the unlabelled rows, masked by the losses.
                    gt_targets = gt_targets_or_zeros(s_out, data_samples)
                    t_targets = teacher_targets(s_out, t_out)
                losses[loss_name(i, loss)] = loss(flows, t_targets,
                                                  gt_targets, labeled=labeled)
            else:
                losses[loss_name(i, loss)] = self._feature_loss(i)
        losses.update(self.self_supervised_losses(s_out, labeled))
        return losses

    def _feature_loss(self, index: int) -> Tensor:
        return feature_loss(self.distill_losses[index], self.pairs[index],
                            self.recorders, self.adapters)

    def _say_once(self, key: str, message: str) -> None:
        """Log ``message`` the first time ``key`` comes up."""
        if key not in self._said:
            self._said.add(key)
            print_log(f'{type(self).__name__}: {message}', logger='current')

    def _run_to_taps(self, role: str, inputs: dict) -> None:
        """Run a net only until its last tapped module has been recorded."""
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
        outputs of ``extract``.

        Args:
            inputs (dict): ``pc1`` and ``pc2`` (B, N, 3).
            features_only (bool): Only the tapped features are needed, even
                if output losses are configured. Defaults to False.
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
        """The teacher's predictions of a validation batch, as ``val_step``
        gives them (:class:`~bpfn.engine.hooks.KDWeightScheduleHook`)."""
        self._require_teacher('measuring the teacher')
        return self.teacher.val_step(data)

    def teacher_point_errors(self, inputs: dict, data_samples: List[dict],
                             squared: bool = True) -> List[Tensor]:
        """The teacher's per-point errors (B, N_l) at the student's points
        of every level (:func:`teacher_point_errors`)."""
        self._require_teacher("the teacher's errors")
        return teacher_point_errors(self.student, self.teacher, inputs,
                                    data_samples, squared)

    def gt_loss(self, s_out: dict,
                data_samples: List[dict]) -> Dict[str, Tensor]:
        """``loss_gt``: the student's GT loss on the labelled samples
        (:func:`labeled_gt_loss`), scaled by every entry's GT factor."""
        factor = self.gt_loss_weight
        for loss in self.distill_losses:
            factor *= float(loss.gt_loss_factor)
        return dict(loss_gt=labeled_gt_loss(self.student, s_out,
                                            data_samples, factor))

    def check_unlabeled(self, data_samples: List[dict]) -> Tensor:
        """Which samples (B,) are labelled; refuse unlabelled ones that no
        loss uses (:func:`check_labeled`), say once how they are used."""
        ss = self.self_supervised_losses
        labeled, note = check_labeled(data_samples, bool(self.distill_losses),
                                      ss.on if len(ss) else None,
                                      type(self).__name__)
        if note:
            self._say_once('mixed', note)
        return labeled

    def kd_off(self) -> bool:
        """Whether every distillation weight is 0 (e.g. after early stop)."""
        return len(self.distill_losses) > 0 and all(
            float(loss.loss_weight) == 0.0 for loss in self.distill_losses)

    def set_hint_only(self, hint_only: bool) -> None:
        """Switch FitNets' hint-only stage (feature losses alone) on or off."""
        if hint_only and not any(self.pairs):
            raise ValueError(
                'the hint-only stage (FitNetsStageHook) needs a feature '
                'loss (HintLoss or BiHintLoss) in model.distill_losses')
        self.hint_only = bool(hint_only)

    def hint_stage_loss(self, inputs: dict) -> Dict[str, Tensor]:
        """FitNets stage 1: the feature losses alone.

        Both nets run only up to their last tapped modules, so only the
        student's layers below the guided ones (and the adapters) are
        trained; ``loss_gt``, the output and the self-supervised losses are
        logged as 0.
        """
        self._run_to_taps('student', inputs)
        with torch.no_grad():
            self.run_teacher(inputs, features_only=True)
        features = {i: self._feature_loss(i)
                    for i, pairs in enumerate(self.pairs) if pairs}
        zero = next(iter(features.values())).new_zeros(())
        out = dict(loss_gt=zero)
        for i, loss in enumerate(self.distill_losses):
            out[loss_name(i, loss)] = features.get(i, zero)
        out.update(self.self_supervised_losses.zeros(zero))
        return out

    def loss(self, inputs: dict,
             data_samples: List[dict]) -> Dict[str, Tensor]:
        """Run the student, the frozen teacher (no grad) and all losses.

        When every distillation weight is 0 (``KDWeightScheduleHook``
        after an early stop), or there is no distillation loss, the teacher
        is not run: the distillation terms are logged as zeros and the GT
        (and self-supervised) losses train the student. ``labeled_frac``
        (the labelled share of the batch) is added to the log variables.
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
        for i, loss in enumerate(self.distill_losses):
            losses[loss_name(i, loss)] = zero
        if self.distill_losses and not bool(labeled.all()) and not len(
                self.self_supervised_losses):
            self._say_once(
                'kd_off', 'every distillation weight is 0 (KD switched '
                'off): the samples without ground truth now get no loss')
        losses.update(self.self_supervised_losses(s_out, labeled))
        return losses
