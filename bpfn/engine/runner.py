"""The bpfn runner: checked checkpoint loading, crash-safe saving."""
import copy
import os.path as osp
import re
from typing import Callable, List, Optional, Union

from mmengine.dist import broadcast_object_list, get_rank, master_only
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import load_state_dict
from torch.utils.data import DataLoader

from bpfn.registry import FUNCTIONS, RUNNERS
from bpfn.utils.checkpoint import (CheckpointError, check_state_dict,
                                   checkpoint_state, extract_state_dict,
                                   find_latest_checkpoint, is_distiller_state,
                                   load_checkpoint_file, resolve_checkpoint)
from bpfn.utils.fileio import atomic_path
from bpfn.utils.safe_globals import to_safe_history_buffers
from bpfn.utils.work_dir_lock import WorkDirLock, WorkDirLockedError
from .console_log import file_only_filter
from .hooks.graceful_stop_hook import (GracefulStopHook,
                                       graceful_worker_init_fn)
from .resumable_sampler import ResumableSampler

#: Distiller state dict entries of the taught teacher (meta-KD) and of its
#: optimizer; a resumed distiller may lack them (see ``_check_resume``).
TEACHER_PREFIXES = ('teacher.', 'teacher_optimizer.')
#: Optimizer settings compared on resume.
OPTIMIZER_SETTINGS = ('lr', 'weight_decay', 'momentum', 'betas', 'eps',
                      'dampening', 'nesterov', 'amsgrad')


def _fmt(value) -> str:
    if isinstance(value, float):
        return f'{value:g}'
    if isinstance(value, (list, tuple)):
        return '(' + ', '.join(_fmt(v) for v in value) + ')'
    return str(value)


@RUNNERS.register_module()
class BPFNRunner(Runner):
    """MMEngine's :class:`~mmengine.runner.Runner` with safe checkpoint I/O.

    * Every checkpoint is checked before use (zip CRCs, every record
      readable, :func:`bpfn.utils.checkpoint.verify_checkpoint_archive`),
      then loaded with ``torch.load(weights_only=True)`` and bpfn's
      allowlist (:func:`bpfn.utils.bpfn_safe_globals`), which covers what
      MMEngine itself saves (message hub, numpy scalars, config dicts).
      Set ``unsafe_load=True`` in the config (``--unsafe-load``) only for
      trusted files holding other objects.
    * A network loads strictly: every key, shape and dtype must fit.
      Resuming checks that checkpoint and model are the same kind
      (distiller or network), that the model's keys fit, reports optimizer
      settings that differ from the checkpoint's, and warns when a meta-KD
      run resumes without a taught teacher.
    * A directory given as checkpoint, or ``resume=True`` without
      ``load_from``, resolves to the newest intact checkpoint
      (:func:`bpfn.utils.find_latest_checkpoint`).
    * Checkpoints are written to a temp file in the same folder, fsynced
      and renamed into place, so a crash never leaves a truncated
      ``epoch_*.pth``; ``CheckpointHook`` is replaced by
      :class:`~bpfn.engine.hooks.SafeCheckpointHook`, which removes old
      files only after the new one is in place.
    * :meth:`train` holds the work dir lock
      (:class:`bpfn.utils.WorkDirLock`, rank 0 only) and
      :class:`~bpfn.engine.hooks.GracefulStopHook` (a default hook) stops
      at a safe point on SIGTERM / SIGINT.
    * ``DefaultSampler`` is built as its subclass
      :class:`~bpfn.engine.ResumableSampler`, so a checkpoint saved
      mid-epoch resumes at the next batch.
    * The message hub's ``HistoryBuffer`` objects are saved as
      :class:`~bpfn.utils.safe_globals.SafeHistoryBuffer`, which unpickles
      without ``builtins.getattr`` (see :meth:`call_hook`).

    Build it from a config with ``runner_type='BPFNRunner'``.
    """

    #: Allow full unpickling of trusted checkpoints (``--unsafe-load``).
    allow_unsafe_load: bool = False
    #: Timestamps already taken by runners of this process (setup_env).
    _taken_timestamps: set = set()
    # Set by resume() while it loads: the checks of _check_resume apply.
    _resuming: bool = False
    _resume_meta: Optional[dict] = None

    @classmethod
    def from_cfg(cls, cfg) -> 'BPFNRunner':
        """Build the runner from a config.

        Args:
            cfg (ConfigType): The config; besides MMEngine's keys it reads
                ``unsafe_load`` (bool, defaults to False).

        Returns:
            BPFNRunner: The runner.
        """
        runner = super().from_cfg(cfg)
        runner.allow_unsafe_load = bool(cfg.get('unsafe_load', False))
        return runner

    def setup_env(self, env_cfg: dict) -> None:
        """MMEngine's environment setup, with a timestamp unique in-process.

        MMEngine names the run's logger, message hub, visualizer and log
        folder after a timestamp with one-second resolution, and reuses an
        instance of the same name. A second runner built in the same second
        (a notebook, a script training twice) would then log into the first
        one's file and read its message hub. A taken timestamp gets a
        suffix (``_2``, ``_3``, ...) instead; every rank builds its runners
        in the same order, so the ranks agree on it.

        Args:
            env_cfg (dict): The ``env_cfg`` config.
        """
        super().setup_env(env_cfg)
        stamp, count = self._timestamp, 1
        while stamp in BPFNRunner._taken_timestamps:
            count += 1
            stamp = f'{self._timestamp}_{count}'
        BPFNRunner._taken_timestamps.add(stamp)
        self._timestamp = stamp

    def build_logger(self, *args, **kwargs):
        """MMEngine's logger, its long dumps kept off the console.

        The environment, config and hook-order dumps go to the log file
        only (:class:`~bpfn.engine.console_log.FileOnlyFilter`, kept as
        :attr:`console_filter`); the console gets the short header of
        :class:`~bpfn.engine.hooks.RunHeaderHook`.
        """
        logger = super().build_logger(*args, **kwargs)
        self.console_filter = file_only_filter(logger)
        return logger

    # ------------------------------------------------------------------
    # Hooks and data.
    def register_default_hooks(self, hooks: Optional[dict] = None) -> None:
        """Register MMEngine's default hooks, made crash-safe.

        ``checkpoint`` of type ``CheckpointHook`` becomes
        :class:`~bpfn.engine.hooks.SafeCheckpointHook` (same arguments;
        ``type='mmengine.CheckpointHook'`` keeps MMEngine's own hook), and
        ``graceful_stop`` (:class:`~bpfn.engine.hooks.GracefulStopHook`) is
        added unless given (None leaves it out).

        Args:
            hooks (dict, optional): The ``default_hooks`` config.
        """
        hooks = dict(hooks or {})
        checkpoint = hooks.get('checkpoint',
                               dict(type='CheckpointHook', interval=1))
        if isinstance(checkpoint, dict) and checkpoint.get('type') in (
                'CheckpointHook', CheckpointHook):
            hooks['checkpoint'] = dict(checkpoint, type='SafeCheckpointHook')
        elif type(checkpoint) is CheckpointHook:
            self.logger.warning(
                "default_hooks.checkpoint is a built CheckpointHook: it "
                'removes old checkpoints before the new one is written; '
                "pass a config dict (or SafeCheckpointHook) instead")
        graceful = hooks.pop('graceful_stop', dict(type='GracefulStopHook'))
        if graceful is not None:
            hooks['graceful_stop'] = graceful
        super().register_default_hooks(hooks)

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """Build a dataloader, finding bpfn's ``collate_fn`` and sampler.

        MMEngine looks a ``collate_fn`` type up in its root registry only,
        so ``collate_fn=dict(type='flow_collate')`` would not be found;
        here the type is taken from bpfn's ``FUNCTIONS`` (which falls back
        to MMEngine's, e.g. for ``pseudo_collate``). A ``DefaultSampler``
        is built as :class:`~bpfn.engine.ResumableSampler`, which samples
        the same and can also resume mid-epoch. Workers without a
        ``worker_init_fn`` of their own are seeded as MMEngine seeds them
        and ignore SIGTERM / SIGINT
        (:func:`~bpfn.engine.hooks.graceful_stop_hook.graceful_worker_init_fn`).

        Args:
            dataloader (DataLoader | dict): A dataloader or its config.
            seed (int, optional): Random seed. Defaults to None.
            diff_rank_seed (bool): Different seeds per rank.
                Defaults to False.

        Returns:
            DataLoader: The dataloader.
        """
        if isinstance(dataloader, dict):
            dataloader = copy.deepcopy(dataloader)
            collate = dataloader.get('collate_fn')
            if isinstance(collate, dict) and isinstance(
                    collate.get('type'), str):
                fn = FUNCTIONS.get(collate['type'])
                if fn is None:
                    raise KeyError(
                        f'collate_fn type {collate["type"]!r} is not a '
                        'registered function (bpfn has flow_collate)')
                collate = dict(collate)
                collate['type'] = fn
                dataloader['collate_fn'] = collate
            sampler = dataloader.get('sampler')
            if isinstance(sampler, dict) and sampler.get('type') in (
                    'DefaultSampler', 'mmengine.DefaultSampler'):
                dataloader['sampler'] = dict(sampler, type=ResumableSampler)
            if dataloader.get('num_workers', 0) and \
                    'worker_init_fn' not in dataloader:
                dataloader['worker_init_fn'] = dict(
                    type=graceful_worker_init_fn,
                    num_workers=dataloader['num_workers'],
                    rank=get_rank(),
                    seed=seed,
                    disable_subprocess_warning=dataloader.pop(
                        'disable_subprocess_warning', False))
        return Runner.build_dataloader(dataloader, seed=seed,
                                       diff_rank_seed=diff_rank_seed)

    def call_hook(self, fn_name: str, **kwargs) -> None:
        """Call the hooks; make a checkpoint being saved safe to load.

        After the ``before_save_checkpoint`` hooks have run, the
        ``message_hub`` entry of the checkpoint dict is replaced by a copy
        whose ``HistoryBuffer`` objects are
        :class:`~bpfn.utils.safe_globals.SafeHistoryBuffer` (the runner's
        own message hub is left unchanged).

        Args:
            fn_name (str): Name of the hook method.
            **kwargs: Arguments of the hook method.
        """
        super().call_hook(fn_name, **kwargs)
        checkpoint = kwargs.get('checkpoint')
        if fn_name == 'before_save_checkpoint' and isinstance(
                checkpoint, dict) and 'message_hub' in checkpoint:
            checkpoint['message_hub'] = to_safe_history_buffers(
                checkpoint['message_hub'])

    # ------------------------------------------------------------------
    # Training: work dir lock and signal handlers.
    def train(self):
        """Train, holding the work dir lock (rank 0).

        Raises:
            WorkDirLockedError: On every rank, if another run holds the
                work dir.
            TrainingInterrupted: If a signal stopped training (see
                :class:`~bpfn.engine.hooks.GracefulStopHook`).
        """
        lock = self._take_work_dir_lock()
        try:
            return super().train()
        finally:
            self.shut_down_workers()
            for hook in self.hooks:
                if isinstance(hook, GracefulStopHook):
                    hook.restore()
            if lock is not None:
                lock.release()

    def val(self) -> dict:
        """Validate; the data loader's workers end with it."""
        try:
            return super().val()
        finally:
            self.shut_down_workers()

    def test(self) -> dict:
        """Test; the data loader's workers end with it."""
        try:
            return super().test()
        finally:
            self.shut_down_workers()

    def shut_down_workers(self) -> None:
        """End the data loader workers that the built loops still hold.

        A loader with ``persistent_workers=True`` keeps its workers between
        epochs, until its iterator is collected, and a loop may keep a live
        iterator between iterations (:class:`~bpfn.engine.MetaKDTrainLoop`'s
        quiz batches). The workers ignore SIGTERM
        (:func:`~bpfn.engine.hooks.graceful_stop_hook.
        graceful_worker_init_fn`), so the interpreter's exit, which
        terminates daemonic children with SIGTERM and then joins them,
        would wait for them forever once training or testing had finished
        or failed. Here the workers of every loader and iterator that a
        built loop holds are asked to stop as the loader itself asks them (a
        stop message on each queue, then a join); one still busy after the
        loader's own SIGTERM and join (a batch that takes longer than its
        timeout) is killed, since it ignores that signal.
        """
        for loop in (self._train_loop, self._val_loop, self._test_loop):
            if loop is None or isinstance(loop, dict):
                continue  # never built: no workers
            for value in list(vars(loop).values()):
                loader = value if isinstance(value, DataLoader) else None
                iterator = value if loader is None else loader._iterator
                if not hasattr(iterator, '_shutdown_workers'):
                    continue
                iterator._shutdown_workers()
                for worker in iterator._workers:
                    if worker.is_alive():
                        worker.kill()
                        worker.join()
                if loader is not None:
                    loader._iterator = None

    def _take_work_dir_lock(self) -> Optional[WorkDirLock]:
        lock, error = None, None
        if self.rank == 0:
            lock = WorkDirLock(self.work_dir, self.logger.warning)
            try:
                lock.acquire()
            except WorkDirLockedError as exc:
                lock, error = None, str(exc)
        if self.world_size > 1:
            box: List[Optional[str]] = [error]
            broadcast_object_list(box, src=0)
            error = box[0]
        if error:
            raise WorkDirLockedError(error)
        return lock

    # ------------------------------------------------------------------
    # Loading and resuming.
    def load_or_resume(self) -> None:
        """Load or resume; ``resume=True`` alone takes the newest intact
        checkpoint of the work dir (bpfn's resolution, not MMEngine's
        pointer)."""
        if self._resume and self._load_from is None and \
                not self._has_loaded:
            try:
                path = find_latest_checkpoint(self.work_dir,
                                              self.logger.warning)
            except CheckpointError as exc:
                if 'holds no checkpoint to resume from' not in str(exc):
                    raise
                self.logger.info(f'{exc}; training from scratch')
                return
            self.logger.info(f'Auto resumed from the latest checkpoint '
                             f'{path}.')
            self.resume(path)
            return
        super().load_or_resume()

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """Resume training from a checkpoint, checked first.

        Besides MMEngine's resume: the checks of :meth:`load_checkpoint`
        for resuming, and a checkpoint saved mid-epoch (with
        ``meta['epoch_batches']``) continues from the next batch of its
        epoch.

        Args:
            filename (str): Checkpoint file or work dir.
            resume_optimizer (bool): Defaults to True.
            resume_param_scheduler (bool): Defaults to True.
            map_location (str | Callable): Defaults to ``'default'``.
        """
        self._resume_meta = None
        self._resuming = True
        try:
            super().resume(filename, resume_optimizer,
                           resume_param_scheduler, map_location)
        finally:
            self._resuming = False
        meta = self._resume_meta or {}
        batches = int(meta.get('epoch_batches') or 0)
        if batches > 0:
            self._resume_within_epoch(batches, meta)

    def _resume_within_epoch(self, batches: int, meta: dict) -> None:
        """Skip the ``batches`` of the resumed epoch already trained."""
        from .hooks.rng_state_hook import RNG_META_KEY
        loader = self.train_loop.dataloader
        sampler = loader.sampler
        if not isinstance(sampler, ResumableSampler):
            raise CheckpointError(
                f'the checkpoint was saved after {batches} batches of epoch '
                f'{self.epoch + 1}, but the train sampler '
                f'{type(sampler).__name__} cannot start an epoch part-way; '
                'use DefaultSampler (or ResumableSampler), or resume from '
                'an epoch_*.pth checkpoint')
        num = min(batches * int(loader.batch_size or 1), sampler.num_samples)
        sampler.resume_within_epoch(self.epoch, num,
                                    meta.get(RNG_META_KEY))
        self.logger.info(f'resuming epoch {self.epoch + 1} after its first '
                         f'{batches} batches')

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:
        """Load a checkpoint into the model, checked, with safe unpickling.

        Args:
            filename (str): A local checkpoint file or a work dir.
            map_location (str | Callable): Passed to :func:`torch.load`.
                Defaults to ``'cpu'``.
            strict (bool): Whether a distiller's keys must match exactly
                (networks always load strictly). Defaults to False.
            revise_keys (list): ``(pattern, replacement)`` pairs applied to
                a distiller's state_dict keys. Defaults to stripping
                ``module.``.

        Returns:
            dict: The loaded checkpoint.
        """
        filename = resolve_checkpoint(filename, self.logger.warning)
        checkpoint = load_checkpoint_file(filename, map_location,
                                          self.allow_unsafe_load)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        if self._resuming:
            self._check_resume(model, checkpoint, filename)
            self._resume_meta = checkpoint['meta']
        else:
            checkpoint_state(checkpoint, filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        if is_distiller_state(model.state_dict()):
            # A distiller: its own keys, as saved.
            state = checkpoint_state(checkpoint, filename)
            if not is_distiller_state(state):
                raise CheckpointError(
                    f'load_from: checkpoint {filename} holds a network '
                    f'(no student.* entries), but the model is a distiller '
                    f'({type(model).__name__}): nothing of it would load. '
                    'Give a network checkpoint as model.teacher_ckpt, or a '
                    'checkpoint of a distiller run as load_from')
            metadata = getattr(state, '_metadata', None)
            for pattern, repl in revise_keys:
                state = type(state)(
                    (re.sub(pattern, repl, k), v) for k, v in state.items())
            if metadata is not None:
                state._metadata = metadata
        else:
            # A network: bpfn, original BPF or distiller checkpoints (the
            # student is kept), and every key must fit: a test must never
            # score a partly loaded model.
            state = extract_state_dict(checkpoint, filename)
            check_state_dict(model, state, filename)
        load_state_dict(model, state, strict, self.logger)
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def _check_resume(self, model, checkpoint, filename: str) -> None:
        """Refuse a checkpoint that cannot resume this model; report
        differences that can.

        Raises:
            CheckpointError: If the checkpoint is not a training checkpoint,
                is of the other kind (distiller vs network), does not fit
                the model, or its optimizer state does not fit the
                optimizer.
        """
        state = checkpoint_state(checkpoint, filename)
        if not isinstance(checkpoint.get('meta'), dict) or \
                'state_dict' not in checkpoint:
            raise CheckpointError(
                f'cannot resume from {filename}: it holds weights only, no '
                'training state (meta, optimizer); resume from a checkpoint '
                'saved by tools/train.py, or start a new run from these '
                f'weights with load_from={filename} (without --resume)')
        model_kind = 'a distiller' if is_distiller_state(
            model.state_dict()) else 'a network'
        ckpt_kind = 'a distiller' if is_distiller_state(state) \
            else 'a network'
        name = type(model).__name__
        if model_kind != ckpt_kind:
            if ckpt_kind == 'a network':
                hint = ('a distiller resumes only from a checkpoint of a '
                        'distiller run; give this network as '
                        'model.teacher_ckpt, or start the distillation '
                        'without --resume')
            else:
                hint = ("resume it with the distiller's config, or start a "
                        f'new run from its student with load_from={filename}'
                        ' (without --resume)')
            entries = 'student.* entries' if ckpt_kind == 'a distiller' \
                else 'no student.* entries'
            raise CheckpointError(
                f'cannot resume from {filename}: the checkpoint holds '
                f'{ckpt_kind} ({entries}) but the model is {model_kind} '
                f'({name}); {hint}')
        plain = type(state)(
            (re.sub(r'^module\.', '', k), v) for k, v in state.items())
        ignore = TEACHER_PREFIXES if model_kind == 'a distiller' else ()
        check_state_dict(model, plain, filename, ignore=ignore)
        if model_kind == 'a distiller':
            self._check_taught_teacher(model, plain, filename)
        self._check_optimizer_state(checkpoint, filename)

    def _check_taught_teacher(self, model, state: dict,
                              filename: str) -> None:
        """Warn when meta-KD resumes without its taught teacher (or a
        distiller without one resumes from a meta-KD checkpoint)."""
        has_teacher = any(k.startswith(TEACHER_PREFIXES[0]) for k in state)
        has_optim = any(k.startswith(TEACHER_PREFIXES[1]) for k in state)
        teacher_ckpt = getattr(model, 'teacher_ckpt', None)
        if hasattr(model, 'teacher_optimizer'):
            if not has_teacher:
                self.logger.warning(
                    f'checkpoint {filename} holds no taught teacher (no '
                    'teacher.* / teacher_optimizer.* entries: not a meta-KD '
                    'checkpoint); the taught teacher restarts from '
                    f'model.teacher_ckpt ({teacher_ckpt}) and its optimizer '
                    'from scratch')
            elif not has_optim:
                self.logger.warning(
                    f'checkpoint {filename} holds the taught teacher but no '
                    "teacher_optimizer.* entries; the teacher's optimizer "
                    'restarts from scratch')
        elif has_teacher:
            self.logger.warning(
                f'checkpoint {filename} holds a taught teacher (teacher.* '
                f'entries of a meta-KD run) that {type(model).__name__} does '
                f'not train; the teacher comes from model.teacher_ckpt '
                f'({teacher_ckpt})')

    def _check_optimizer_state(self, checkpoint: dict,
                               filename: str) -> None:
        """Refuse an optimizer state that does not fit; report settings
        that differ from the config's (the checkpoint's are used)."""
        saved = checkpoint.get('optimizer')
        wrapper = self.optim_wrapper
        if not isinstance(saved, dict) or 'param_groups' not in saved or \
                not isinstance(wrapper, OptimWrapper):
            return
        groups = wrapper.optimizer.param_groups
        saved_groups = saved['param_groups']
        sizes = [len(g['params']) for g in groups]
        saved_sizes = [len(g.get('params', ())) for g in saved_groups]
        if sizes != saved_sizes:
            raise CheckpointError(
                f'cannot resume from {filename}: its optimizer state has '
                f'{len(saved_sizes)} parameter group(s) of {saved_sizes} '
                f'parameters, the optimizer of this config '
                f'{len(sizes)} of {sizes} (another model or paramwise_cfg?)')
        changes = []
        for index, (group, old) in enumerate(zip(groups, saved_groups)):
            where = f' (param group {index})' if len(groups) > 1 else ''
            for key in OPTIMIZER_SETTINGS:
                if key not in group or key not in old:
                    continue
                now = group.get(f'initial_{key}', group[key])
                then = old.get(f'initial_{key}', old[key])
                if isinstance(now, (list, tuple)):
                    now, then = tuple(now), tuple(then)
                if now != then:
                    changes.append(f'{key}{where} in the config {_fmt(now)}, '
                                   f'resumed optimizer state has '
                                   f'{_fmt(then)}')
        if changes:
            self.logger.warning(
                f'optimizer settings differ from the checkpoint {filename}; '
                'training continues with the resumed ones: ' +
                '; '.join(changes))

    # ------------------------------------------------------------------
    # Saving.
    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        """Save a checkpoint atomically (temp file, fsync, rename).

        Takes the arguments of :meth:`mmengine.runner.Runner.save_checkpoint`.
        Between writing the temp file and renaming it, hooks'
        ``after_write_checkpoint(runner, tmp_path, filepath)`` methods are
        called (the test suite's fault injection cuts a write short
        there).

        Args:
            out_dir (str): Folder of the checkpoint.
            filename (str): File name of the checkpoint.
        """
        remote = '://' in str(out_dir) or kwargs.get('backend_args') or \
            kwargs.get('file_client_args')
        if remote:
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        path = osp.join(out_dir, filename)
        with atomic_path(path) as tmp_path:
            super().save_checkpoint(out_dir, osp.basename(tmp_path), *args,
                                    **kwargs)
            self.call_hook('after_write_checkpoint', tmp_path=tmp_path,
                           filepath=path)
