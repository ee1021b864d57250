"""Check that every process holds the same (taught) teacher."""
import hashlib
import os
import os.path as osp

from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook

from bpfn.registry import HOOKS
from .kd_hook_utils import unwrap_distiller

__all__ = ['TeacherSyncHook', 'teacher_digest']


def teacher_digest(teacher) -> str:
    """SHA-256 of a teacher's state (every parameter and buffer, in order).

    Args:
        teacher (nn.Module): The teacher.

    Returns:
        str: Hex digest; equal digests mean bit-identical states.
    """
    digest = hashlib.sha256()
    for name, value in sorted(teacher.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@HOOKS.register_module()
class TeacherSyncHook(Hook):
    """Stop training if the ranks' teachers ever differ (meta-KD).

    Meta-KD updates its teacher every step; on several processes each
    updates its own copy with the all-reduced gradient, which must leave
    them bit-identical. Every ``interval`` iterations this hook hashes the
    teacher (:func:`teacher_digest`), gathers the digests of all ranks and
    raises if they differ. With ``record=True`` each rank also appends
    ``<iteration> <digest>`` to ``teacher_digests/rank<r>.txt`` in the work
    dir (also in a single process), for checks outside the run.

    Args:
        interval (int): Iterations between checks. Defaults to 1.
        record (bool): Write the digests to files. Defaults to False.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 1, record: bool = False) -> None:
        if int(interval) < 1:
            raise ValueError(f'TeacherSyncHook: interval must be >= 1, got '
                             f'{interval}')
        self.interval = int(interval)
        self.record = bool(record)

    def _check(self, runner, when: str) -> None:
        teacher = unwrap_distiller(runner, 'TeacherSyncHook').teacher
        if teacher is None:
            raise TypeError('TeacherSyncHook: the distiller has no teacher '
                            '(model.teacher is None); remove the hook')
        digest = teacher_digest(teacher)
        if self.record:
            folder = osp.join(runner.work_dir, 'teacher_digests')
            os.makedirs(folder, exist_ok=True)
            with open(osp.join(folder, f'rank{get_rank()}.txt'), 'a') as f:
                f.write(f'{when} {digest}\n')
        if get_world_size() > 1:
            digests = all_gather_object(digest)
            if len(set(digests)) > 1:
                raise RuntimeError(
                    f'TeacherSyncHook: the teachers of the ranks differ at '
                    f'{when} (digests {digests}); their updates were not '
                    'all-reduced alike')

    def before_train(self, runner) -> None:
        """Check the teachers as loaded."""
        self._check(runner, f'start{runner.iter}')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Check after every ``interval`` iterations."""
        if self.every_n_train_iters(runner, self.interval):
            self._check(runner, str(runner.iter + 1))
