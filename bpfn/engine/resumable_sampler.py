"""A DefaultSampler that can start an epoch part-way, for mid-epoch resume."""
from typing import Any, Dict, Iterator, Optional

from mmengine.dataset import DefaultSampler

from bpfn.registry import DATA_SAMPLERS

__all__ = ['ResumableSampler']


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """MMEngine's :class:`~mmengine.dataset.DefaultSampler`, resumable
    mid-epoch.

    It yields exactly what ``DefaultSampler`` yields (the order depends on
    seed and epoch only) until :meth:`resume_within_epoch` arms it: then
    the given epoch starts after the samples already trained, which are
    skipped without being loaded. :class:`~bpfn.engine.BPFNRunner` builds
    it in place of ``DefaultSampler`` and arms it when training resumes
    from a checkpoint saved mid-epoch (see
    :class:`~bpfn.engine.hooks.GracefulStopHook`).

    The random generators are put back to the states saved with that
    checkpoint when the epoch's first batch is drawn, i.e. after the data
    loader iterator has drawn its base seed: with ``num_workers=0`` the
    resumed epoch then draws the same augmentations as the uninterrupted
    one. With worker processes the workers' seeds come from that base seed,
    so the augmentations (not the order) differ.

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): Shuffle the samples. Defaults to True.
        seed (int, optional): Shuffling seed. Defaults to None (synced
            random seed).
        round_up (bool): Pad to a multiple of the world size.
            Defaults to True.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.skip_epoch: Optional[int] = None
        self.skip_samples = 0
        self.rng_state: Optional[Dict[str, Any]] = None

    def resume_within_epoch(self, epoch: int, num_samples: int,
                            rng_state: Optional[Dict[str, Any]] = None
                            ) -> None:
        """Start ``epoch`` after its first ``num_samples`` samples.

        Args:
            epoch (int): The epoch (as passed to :meth:`set_epoch`).
            num_samples (int): Samples of this rank to skip.
            rng_state (dict, optional): Random generator states to restore
                when the first remaining batch is drawn (see
                :func:`bpfn.engine.hooks.rng_state_hook.get_rng_state`).
                Defaults to None (left as they are).
        """
        if not 0 <= num_samples <= self.num_samples:
            raise ValueError(
                f'ResumableSampler: cannot skip {num_samples} samples of an '
                f'epoch of {self.num_samples}')
        self.skip_epoch = epoch
        self.skip_samples = num_samples
        self.rng_state = rng_state

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch; another epoch than the armed one disarms it."""
        super().set_epoch(epoch)
        if self.skip_epoch is not None and epoch != self.skip_epoch:
            self.skip_epoch, self.skip_samples = None, 0
            self.rng_state = None

    def _skipping(self) -> bool:
        return self.skip_epoch is not None and self.skip_epoch == self.epoch

    def __iter__(self) -> Iterator[int]:
        """The indices of the epoch, less the skipped ones when armed."""
        indices = list(super().__iter__())
        if not self._skipping():
            return iter(indices)
        if self.rng_state is not None:
            from .hooks.rng_state_hook import set_rng_state
            set_rng_state(self.rng_state)
            self.rng_state = None
        return iter(indices[self.skip_samples:])

    def __len__(self) -> int:
        """Samples of this rank in the current epoch (after the skip)."""
        if self._skipping():
            return self.num_samples - self.skip_samples
        return self.num_samples
