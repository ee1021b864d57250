"""Save and restore random number generator states for exact resume."""
import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from bpfn.registry import HOOKS

#: Key of the RNG states in a checkpoint's ``meta``.
RNG_META_KEY = 'rng_state'


def get_rng_state() -> Dict[str, Any]:
    """States of python's, numpy's and torch's global generators.

    Everything is stored as tensors, ints and tuples, so the state loads
    with ``torch.load(weights_only=True)``.

    Returns:
        dict: ``python``, ``numpy``, ``torch`` and, with CUDA, ``cuda``.
    """
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = dict(
        python=(py_version, torch.tensor(py_state, dtype=torch.int64),
                py_gauss),
        numpy=(np_name, torch.from_numpy(np_keys.astype(np.int64)),
               int(np_pos), int(np_has_gauss), float(np_gauss)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the states of :func:`get_rng_state`.

    Args:
        state (dict): A dict from :func:`get_rng_state`.
    """
    py_version, py_state, py_gauss = state['python']
    random.setstate((py_version, tuple(int(v) for v in py_state.tolist()),
                     py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state['numpy']
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32),
                         int(np_pos), int(np_has_gauss), float(np_gauss)))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = state['cuda']
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make a resumed run draw the same random numbers as an uninterrupted one.

    * The global RNG states are saved in every checkpoint
      (``meta['rng_state']``) and restored when training resumes from it.
    * Validation during training leaves the RNG states as it found them, so
      the validation schedule does not change the training randomness (and
      a resumed run, which skips the validation of the epoch it resumes
      from, stays in step).

    Together with a fixed seed (the samplers' shuffling depends on seed and
    epoch only) a run killed mid-epoch and resumed from its last checkpoint
    reaches the same weights as an uninterrupted run.

    A checkpoint written during validation (MMEngine's ``CheckpointHook``
    re-saves the epoch checkpoint after a new best score) gets the states
    of before the validation, i.e. those that training continues with.

    Distributed runs: checkpoints are written by rank 0 only, so only rank
    0's states are saved. With MMEngine's default
    ``randomness.diff_rank_seed=False`` every rank is seeded alike and draws
    the same numbers, and rank 0's states are restored on every rank; with
    ``diff_rank_seed=True`` nothing is restored (a warning says so) and the
    resume is not exact. Bit-exact resume is checked for single-process
    runs.

    Args:
        restore_on_resume (bool): Restore the saved states when resuming.
            Defaults to True.
    """

    priority = 'LOWEST'

    def __init__(self, restore_on_resume: bool = True) -> None:
        self.restore_on_resume = restore_on_resume
        self._pending: Optional[Dict[str, Any]] = None
        self._val_state: Optional[Dict[str, Any]] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the RNG states of training in the checkpoint's meta."""
        state = self._val_state if self._val_state is not None else \
            get_rng_state()
        checkpoint.setdefault('meta', {})[RNG_META_KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's RNG states for :meth:`before_train`."""
        meta = checkpoint.get('meta') or {}
        self._pending = meta.get(RNG_META_KEY)

    def before_train(self, runner) -> None:
        """Restore the RNG states when training continues a checkpoint."""
        state, self._pending = self._pending, None
        if not self.restore_on_resume or state is None or runner.iter == 0:
            return
        if runner.world_size > 1 and dict(
                runner.cfg.get('randomness') or {}).get('diff_rank_seed'):
            runner.logger.warning(
                'RNGStateHook: randomness.diff_rank_seed=True and only rank '
                "0's RNG states are in the checkpoint; the states are not "
                'restored, so this resume is not exact')
            return
        set_rng_state(state)
        runner.logger.info('restored the RNG states (python, numpy, torch) '
                           f'saved at iteration {runner.iter}')

    def before_val(self, runner) -> None:
        """Remember the RNG states before validation."""
        self._val_state = get_rng_state()

    def after_val(self, runner) -> None:
        """Put back the RNG states of before validation."""
        if self._val_state is not None:
            set_rng_state(self._val_state)
            self._val_state = None


__all__ = ['RNGStateHook', 'get_rng_state', 'set_rng_state']
