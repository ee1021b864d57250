"""Meta knowledge distillation (MetaDistil): the teacher learns to teach."""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_world_size
from mmengine.optim import OptimWrapper
from torch import Tensor, nn
from torch.func import functional_call

from bpfn.registry import MODELS, OPTIMIZERS
from .labeled_batches import labeled_samples, unlabeled_names
from .scene_flow_distiller import SceneFlowDistiller

# Checkpoint entries of the taught teacher and of its optimizer state.
TEACHER_PREFIX = 'teacher.'
OPTIMIZER_PREFIX = 'teacher_optimizer.'


def _pop_prefixed(state_dict: dict, prefix: str) -> Dict[str, Tensor]:
    """Remove the entries under ``prefix``; return them without it."""
    keys = [k for k in state_dict if k.startswith(prefix)]
    return {k[len(prefix):]: state_dict.pop(k) for k in keys}


def _dense(grads: Sequence[Optional[Tensor]],
           like: Sequence[Tensor]) -> List[Tensor]:
    """Gradients with ``None`` (unused parameters) replaced by zeros."""
    return [torch.zeros_like(p) if g is None else g
            for g, p in zip(grads, like)]


def all_reduce_mean(tensors: Sequence[Tensor]) -> List[Tensor]:
    """The mean over all processes of each tensor (detached copies).

    One flat ``all_reduce`` of the concatenated tensors; every process gets
    the same bits. Without a process group (or with one process) the
    tensors are returned as they are.

    Args:
        tensors (Sequence[Tensor]): Tensors of one dtype and device.

    Returns:
        list[Tensor]: The means, shaped as the inputs.
    """
    tensors = [t.detach() for t in tensors]
    world = get_world_size()
    if world == 1 or not tensors:
        return tensors
    flat = torch.cat([t.reshape(-1) for t in tensors])
    torch_dist.all_reduce(flat)
    flat.div_(world)
    out, start = [], 0
    for t in tensors:
        out.append(flat[start:start + t.numel()].view_as(t))
        start += t.numel()
    return out


@MODELS.register_module()
class MetaSceneFlowDistiller(SceneFlowDistiller):
    """MetaDistil-style distiller: a pilot update teaches the teacher.

    Every training step, given a batch and a quiz batch from a held-out
    split (fed by ``MetaKDTrainLoop`` through :meth:`set_quiz_batch`):

    1. pilot update of the student parameters ``theta`` with its distillation
       loss, one SGD step of the student's current lr:
       ``theta' = theta - lr * g``, ``g = grad_theta L(theta, w)`` (a
       functional copy, the student itself is untouched; BatchNorm buffers
       are cloned);
    2. quiz loss ``Q``: the GT loss of the pilot ``theta'`` on the quiz
       batch (which must be labelled; the training batch may hold
       unlabelled samples, trained as by :class:`SceneFlowDistiller`, in
       the pilot step as in the real one), and its gradient
       ``v = grad_theta' Q``;
    3. the teacher's gradient through the pilot step,
       ``dQ/dw = -lr * d/dw (v . g(w))`` (double backward; with
       ``first_order`` by finite differences), and a step of the teacher's
       own optimizer (``teacher_optimizer``, small lr);
    4. the real student step with the updated (frozen for it) teacher.

    On several processes (``tools/dist_train.sh``, with
    ``model_wrapper_cfg=dict(type='bpfn.MetaDistillerDDP')``, see
    :class:`MetaDistillerDDP`) ``g``, ``v`` and
    the teacher's gradient are each averaged over the processes: the pilot
    takes the step of the whole (global) batch, the quiz loss is the mean
    over all quiz batches, and every process applies the same teacher
    gradient, so the teachers stay bit-identical. Step 4 is the usual DDP
    step. (BatchNorm in train mode normalises each process's batch, as
    everywhere in DDP.)

    The teacher keeps its BatchNorm layers in eval mode throughout; its
    parameters (not in the module tree, see :class:`SceneFlowDistiller`) are
    trained only by its own optimizer. As the teacher changes, checkpoints
    hold it too: ``teacher.*`` entries for its weights and
    ``teacher_optimizer.<param>.<name>`` for its optimizer's per-parameter
    state (the hyper-parameters come from the config), so that resuming
    continues with the taught teacher. A distilled checkpoint still loads
    into the student's config (only ``student.*`` entries are taken).

    Args:
        teacher_optimizer (dict): Optimizer config of the teacher.
            Defaults to ``dict(type='Adam', lr=1e-5)``.
        pilot_lr (float, optional): lr of the pilot step. Defaults to the
            student optimizer's current lr.
        first_order (bool): Approximate the mixed second derivative
            ``d/dw (v . grad_theta L)`` (``v`` the quiz gradient at
            ``theta'``) by central finite differences (as DARTS),
            ``(grad_w L(theta + eps v) - grad_w L(theta - eps v)) / 2 eps``,
            instead of differentiating through the pilot update: no double
            backward, about half the memory. Defaults to False.
        fd_eps (float): Finite-difference step, divided by ``||v||``.
            Defaults to 0.01.
        **kwargs: Arguments of :class:`SceneFlowDistiller`.
    """

    def __init__(self,
                 teacher_optimizer: Optional[dict] = None,
                 pilot_lr: Optional[float] = None,
                 first_order: bool = False,
                 fd_eps: float = 0.01,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if self.teacher is None:
            raise ValueError('MetaSceneFlowDistiller needs model.teacher (the '
                             'teacher it teaches) and model.teacher_ckpt')
        self.teacher.requires_grad_(True)
        cfg = dict(teacher_optimizer or dict(type='Adam', lr=1e-5))
        cfg['params'] = [p for p in self.teacher.parameters()]
        self.teacher_optimizer = OPTIMIZERS.build(cfg)
        self.pilot_lr = pilot_lr
        self.first_order = first_order
        self.fd_eps = fd_eps
        self._quiz: Optional[dict] = None

    def _save_to_state_dict(self, destination: dict, prefix: str,
                            keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for name, value in self.teacher.state_dict(
                keep_vars=keep_vars).items():
            destination[f'{prefix}{TEACHER_PREFIX}{name}'] = value
        state = self.teacher_optimizer.state_dict()['state']
        for index, entries in state.items():
            for name, value in entries.items():
                destination[f'{prefix}{OPTIMIZER_PREFIX}{index}.{name}'] = \
                    torch.as_tensor(value)

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              local_metadata: dict, strict: bool,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        teacher = _pop_prefixed(state_dict, prefix + TEACHER_PREFIX)
        optim = _pop_prefixed(state_dict, prefix + OPTIMIZER_PREFIX)
        if teacher:
            result = self.teacher.load_state_dict(teacher, strict=False)
            missing_keys += [prefix + TEACHER_PREFIX + k
                             for k in result.missing_keys]
            unexpected_keys += [prefix + TEACHER_PREFIX + k
                                for k in result.unexpected_keys]
        if optim:
            per_param: Dict[int, dict] = {}
            for key, value in optim.items():
                index, name = key.split('.', 1)
                per_param.setdefault(int(index), {})[name] = value
            current = self.teacher_optimizer.state_dict()
            self.teacher_optimizer.load_state_dict(
                dict(state=per_param, param_groups=current['param_groups']))
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def set_quiz_batch(self, quiz_data: dict) -> None:
        """Store the quiz batch (a collated batch) of the next step."""
        self._quiz = quiz_data

    def _student_call(self, params: dict, buffers: dict, inputs: dict):
        return functional_call(self.student, (params, buffers), (inputs, ),
                               dict(mode='tensor'))

    def _pilot_loss(self, params: dict, buffers: dict, inputs: dict,
                    data_samples: list, t_out: dict) -> Tensor:
        s_out = self._student_call(params, buffers, inputs)
        # Unlabelled samples are handled as in the real step (GT term on
        # the labelled ones, KD and self-supervised terms as configured).
        losses = self.distill_loss(inputs, data_samples, s_out, t_out)
        self.recorders.clear('student')
        return sum(v for k, v in losses.items() if 'loss' in k)

    def _teacher_gradients(self, data: dict, quiz: dict, lr: float
                           ) -> Tuple[List[Tensor], List[Tensor], Tensor]:
        """Steps 1-3 of :meth:`meta_step` up to the teacher's gradients.

        Returns:
            tuple: The teacher's trainable parameters, their gradients and
            the pilot's quiz loss.
        """
        inputs, samples = data['inputs'], data['data_samples']
        params = {n: p for n, p in self.student.named_parameters()
                  if p.requires_grad}
        buffers = {n: b.clone() for n, b in self.student.named_buffers()}
        t_params = [p for p in self.teacher.parameters() if p.requires_grad]
        t_out = self.teacher(inputs, mode='tensor')  # with grad to w
        loss = self._pilot_loss(params, buffers, inputs, samples, t_out)
        grads = _dense(torch.autograd.grad(
            loss, list(params.values()), create_graph=not self.first_order,
            retain_graph=True, allow_unused=True), list(params.values()))
        # 1. The pilot takes the step of the global batch.
        g_mean = all_reduce_mean(grads)
        pilot = {n: (p - lr * g).detach().requires_grad_(True)
                 for (n, p), g in zip(params.items(), g_mean)}
        # 2. Quiz loss of the pilot, and v = its gradient at theta'.
        self._check_quiz(quiz['data_samples'])
        q_out = self._student_call(pilot, buffers, quiz['inputs'])
        self.recorders.clear('student')
        quiz_loss = sum(self.student.loss(q_out,
                                          quiz['data_samples']).values())
        v = all_reduce_mean(_dense(
            torch.autograd.grad(quiz_loss, list(pilot.values()),
                                allow_unused=True), list(pilot.values())))
        # 3. dQ/dw = -lr * d/dw (v . g(theta, w)).
        if self.first_order:
            norm = torch.sqrt(sum((g * g).sum() for g in v)).clamp_min(1e-12)
            eps = self.fd_eps / norm
            diff = 0.
            for sign in (1.0, -1.0):
                shifted = {n: (p + sign * eps * g).detach()
                           for (n, p), g in zip(params.items(), v)}
                diff = diff + sign * self._pilot_loss(
                    shifted, buffers, inputs, samples, t_out)
            objective = -lr * diff / (2 * eps)
        else:
            objective = -lr * sum((g * d).sum() for g, d in zip(grads, v))
        t_grads = all_reduce_mean(_dense(
            torch.autograd.grad(objective, t_params, allow_unused=True),
            t_params))
        return t_params, t_grads, quiz_loss

    def meta_step(self, data: dict, quiz: dict, lr: float) -> Tensor:
        """Steps 1-3: update the teacher through a pilot student.

        Collective when several processes train: every process must call it
        once per step (all-reduces of ``g``, ``v``, the teacher gradient and
        the quiz loss).

        Args:
            data (dict): Preprocessed batch, ``inputs`` and ``data_samples``.
            quiz (dict): Preprocessed quiz batch.
            lr (float): Pilot lr.

        Returns:
            Tensor: The pilot's quiz loss, averaged over the processes
            (detached).
        """
        with self.recorders.step():  # the teacher's taps, pilot runs
            t_params, t_grads, quiz_loss = self._teacher_gradients(
                data, quiz, lr)
        self.teacher_optimizer.zero_grad()
        for p, g in zip(t_params, t_grads):
            p.grad = g
        self.teacher_optimizer.step()
        self.teacher.zero_grad(set_to_none=True)
        return all_reduce_mean([quiz_loss])[0]

    @staticmethod
    def _check_quiz(samples: List[dict]) -> None:
        """The quiz loss is a GT loss: refuse unlabelled quiz samples."""
        if not bool(labeled_samples(samples).all()):
            raise ValueError(
                f'MetaSceneFlowDistiller: {unlabeled_names(samples)} of the '
                'quiz batch have no ground truth (gt_flow); the quiz loss '
                "is the pilot's GT loss, so train_cfg.quiz_dataloader must "
                'give labelled data (the training '
                'batches may mix in unlabelled samples)')

    def loss(self, inputs: dict,
             data_samples: List[dict]) -> Dict[str, Tensor]:
        """The student's distillation loss (step 4).

        Raises if a quiz batch is pending: the meta step of this training
        step has not run (a model wrapper called ``forward`` directly).
        """
        if self._quiz is not None:
            self._quiz = None
            raise RuntimeError(
                'MetaSceneFlowDistiller: a quiz batch is pending but the meta '
                'step did not run; the model wrapper called forward() '
                'instead of the distiller\'s train step. Under '
                "tools/dist_train.sh set model_wrapper_cfg=dict(type="
                "'bpfn.MetaDistillerDDP') in the config")
        return super().loss(inputs, data_samples)

    def meta_train_step(self, data: dict, optim_wrapper: OptimWrapper,
                        run_forward: Callable[[dict, str], dict],
                        wrapper: nn.Module) -> Dict[str, Tensor]:
        """Meta step (teacher), then the student's distillation step.

        Args:
            data (dict): The raw batch from the dataloader.
            optim_wrapper (OptimWrapper): The student's optimizer wrapper.
            run_forward (Callable): Runs ``forward(**data, mode)``: the
                distiller's own or the DDP wrapper's (which all-reduces the
                student's gradients).
            wrapper (nn.Module): The module whose ``optim_context`` is used
                (the distiller or its DDP wrapper).

        Returns:
            dict: Log variables, with ``loss_quiz``.
        """
        if self._quiz is None:
            raise RuntimeError(
                'MetaSceneFlowDistiller needs a quiz batch every step: use '
                "train_cfg=dict(type='MetaKDTrainLoop', quiz_dataloader=...)")
        data = self.data_preprocessor(data, True)
        quiz = self.data_preprocessor(self._quiz, True)
        self._quiz = None
        lr = self.pilot_lr
        if lr is None:
            lr = float(optim_wrapper.get_lr()['lr'][0])
        quiz_loss = self.meta_step(data, quiz, lr)
        with optim_wrapper.optim_context(wrapper):
            losses = run_forward(data, mode='loss')
        parsed, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(parsed)
        log_vars['loss_quiz'] = quiz_loss
        return log_vars

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """Meta step (teacher), then the student's distillation step."""
        return self.meta_train_step(data, optim_wrapper, self._run_forward,
                                    self)
