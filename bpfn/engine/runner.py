"""The bpfn runner: safe checkpoint loading and crash-safe saving."""
import copy
import os
import os.path as osp
import re
from typing import Callable, Union

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import load_state_dict

from bpfn.registry import FUNCTIONS, RUNNERS
from bpfn.utils.checkpoint import (check_state_dict, extract_state_dict,
                                   load_checkpoint_file, resolve_checkpoint)
from bpfn.utils.fileio import fsync_and_replace
from bpfn.utils.safe_globals import to_safe_history_buffers


@RUNNERS.register_module()
class BPFNRunner(Runner):
    """MMEngine's :class:`~mmengine.runner.Runner` with safe checkpoint I/O.

    * Checkpoints are loaded with ``torch.load(weights_only=True)`` and
      bpfn's allowlist (:func:`bpfn.utils.bpfn_safe_globals`), which covers
      what MMEngine itself saves (message hub, numpy scalars, config dicts),
      so ``resume`` works with torch >= 2.6 without full unpickling. Set
      ``unsafe_load=True`` in the config (``--unsafe-load``) only for
      trusted files holding other objects.
    * A directory given as checkpoint resolves to its newest complete
      checkpoint.
    * Checkpoints are written to a temp file in the same folder and renamed
      into place, so a crash never leaves a truncated ``epoch_*.pth``.
    * The message hub's ``HistoryBuffer`` objects are saved as
      :class:`~bpfn.utils.safe_globals.SafeHistoryBuffer`, which unpickles
      without ``builtins.getattr`` (see :meth:`call_hook`).

    Build it from a config with ``runner_type='BPFNRunner'``.
    """

    #: Allow full unpickling of trusted checkpoints (``--unsafe-load``).
    allow_unsafe_load: bool = False

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

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:
        """Load a checkpoint into the model, with safe unpickling.

        Args:
            filename (str): A local checkpoint file or a work dir.
            map_location (str | Callable): Passed to :func:`torch.load`.
                Defaults to ``'cpu'``.
            strict (bool): Whether the keys must match exactly.
                Defaults to False.
            revise_keys (list): ``(pattern, replacement)`` pairs applied to
                the state_dict keys. Defaults to stripping ``module.``.

        Returns:
            dict: The loaded checkpoint.
        """
        filename = resolve_checkpoint(filename, self.logger.warning)
        checkpoint = load_checkpoint_file(filename, map_location,
                                          self.allow_unsafe_load)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        if any(k.startswith('student.') for k in model.state_dict()):
            # A distiller resuming: its own keys, as saved.
            state = checkpoint.get('state_dict', checkpoint) if isinstance(
                checkpoint, dict) else checkpoint
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

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """Build a dataloader, finding ``collate_fn`` types in bpfn's scope.

        MMEngine looks a ``collate_fn`` type up in its root registry only,
        so ``collate_fn=dict(type='flow_collate')`` would not be found;
        here the type is taken from bpfn's ``FUNCTIONS`` (which falls back
        to MMEngine's, e.g. for ``pseudo_collate``).

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

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        """Save a checkpoint atomically (temp file, fsync, rename).

        Takes the arguments of :meth:`mmengine.runner.Runner.save_checkpoint`.

        Args:
            out_dir (str): Folder of the checkpoint.
            filename (str): File name of the checkpoint.
        """
        remote = '://' in str(out_dir) or kwargs.get('backend_args') or \
            kwargs.get('file_client_args')
        if remote:
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        tmp_name = f'.{filename}.{os.getpid()}.tmp'
        tmp_path = osp.join(out_dir, tmp_name)
        try:
            super().save_checkpoint(out_dir, tmp_name, *args, **kwargs)
            fsync_and_replace(tmp_path, osp.join(out_dir, filename))
        finally:
            if osp.exists(tmp_path):
                os.remove(tmp_path)
