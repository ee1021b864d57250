"""A CheckpointHook whose retention never removes the last good file."""
import os
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from bpfn.registry import HOOKS
from bpfn.utils.checkpoint import (POINTER_NAME, checkpoint_order,
                                   write_last_checkpoint)
from bpfn.utils.fileio import remove_temp_files


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """MMEngine's :class:`~mmengine.hooks.CheckpointHook`, crash-safe.

    MMEngine's hook removes the oldest checkpoint (``max_keep_ckpts``) and
    the previous best one *before* it writes the new file, and writes
    ``last_checkpoint`` in place with an absolute path, so a kill during a
    save can leave no checkpoint or no best one, and a copied work dir
    points into its source. This hook takes the same arguments and:

    * removes an old or previous best checkpoint only after the new file
      is complete and renamed into place (the runner writes it to a temp
      file first, see :meth:`bpfn.engine.BPFNRunner.save_checkpoint`);
    * writes ``last_checkpoint`` atomically, relative to the work dir
      (:func:`bpfn.utils.checkpoint.write_last_checkpoint`), after the
      checkpoint it names is complete;
    * removes at the start of training the temp files that a killed
      earlier run left in the checkpoint folder, with a log line (the work
      dir lock guarantees no other run is writing them);
    * saves the resumable mid-epoch checkpoints of
      :class:`~bpfn.engine.hooks.GracefulStopHook`
      (:meth:`save_interrupt_checkpoint`) and removes them once a newer
      regular checkpoint is complete.

    :class:`~bpfn.engine.BPFNRunner` uses it in place of ``CheckpointHook``.
    Remote ``out_dir`` (``s3://`` ...) keeps MMEngine's behaviour.
    """

    def _is_local(self) -> bool:
        return '://' not in str(self.out_dir)

    def before_train(self, runner) -> None:
        """Set up as MMEngine does, then remove orphaned temp files."""
        super().before_train(runner)
        if not (self._is_local() and is_main_process()):
            return
        folders = {osp.abspath(str(self.out_dir)),
                   osp.abspath(runner.work_dir)}
        for folder in sorted(folders):
            remove_temp_files(
                folder, lambda name: name.endswith('.pth') or
                name == POINTER_NAME, runner.logger.warning)

    # ------------------------------------------------------------------
    def _remove(self, runner, path: str, what: str) -> None:
        """Remove a checkpoint file or (DeepSpeed) folder, main process."""
        if not is_main_process():
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)
        else:
            return
        runner.logger.info(f'The {what} {path} is removed')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save ``step``'s checkpoint; then point to it; then prune."""
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        dropped = None
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        # The new file is complete and in place: now the pointer, then the
        # files it replaces.
        write_last_checkpoint(runner.work_dir, self.last_ckpt)
        if dropped is not None and dropped != step:
            self._remove(
                runner,
                self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(dropped)),
                'checkpoint beyond max_keep_ckpts')
        self._remove_superseded_interrupt_checkpoints(runner, filename)

    def _remove_superseded_interrupt_checkpoints(self, runner,
                                                 filename: str) -> None:
        """Remove mid-epoch checkpoints older than ``filename``."""
        newest = checkpoint_order(filename)
        folder = str(self.out_dir)
        if newest is None or not osp.isdir(folder):
            return
        for name in sorted(os.listdir(folder)):
            order = checkpoint_order(name)
            if order is not None and order[2] > 0 and \
                    order[0] == newest[0] and order < newest:
                self._remove(runner, osp.join(folder, name),
                             'mid-epoch checkpoint')

    # ------------------------------------------------------------------
    def _best_keys(self, key_indicator: str):
        """Message hub keys of the best score and path of an indicator."""
        if len(self.key_indicators) == 1:
            return 'best_score', 'best_ckpt'
        return f'best_score_{key_indicator}', f'best_ckpt_{key_indicator}'

    def _best_path(self, key_indicator: str) -> Optional[str]:
        if len(self.key_indicators) == 1:
            return self.best_ckpt_path
        return self.best_ckpt_path_dict.get(key_indicator)

    def _set_best_path(self, key_indicator: str, path: str) -> None:
        if len(self.key_indicators) == 1:
            self.best_ckpt_path = path
        else:
            self.best_ckpt_path_dict[key_indicator] = path

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """Save a new best checkpoint; remove the previous one afterwards.

        Order: the new best file, then the step checkpoint again (so that
        it records the new best score and file), then the previous best
        file. A kill at any point leaves a complete best checkpoint.
        """
        if not self.save_best:
            return
        if not self._is_local():
            return super()._save_best_checkpoint(runner, metrics)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        step = runner.epoch if self.by_epoch else runner.iter
        unit = 'epoch' if self.by_epoch else 'iter'
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        replaced = []
        updated = False
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            score = metrics[key_indicator]
            score_key, path_key = self._best_keys(key_indicator)
            best = runner.message_hub.get_info(score_key,
                                               self.init_value_map[rule])
            if score is None or not self.is_better_than[key_indicator](
                    score, best):
                continue
            updated = True
            previous = self._best_path(key_indicator)
            name = f'best_{key_indicator}_{self.filename_tmpl.format(step)}'
            name = name.replace('/', '_')
            path = self.file_backend.join_path(self.out_dir, name)
            runner.message_hub.update_info(score_key, score)
            self._set_best_path(key_indicator, path)
            runner.message_hub.update_info(path_key, path)
            runner.save_checkpoint(
                self.out_dir,
                filename=name,
                file_client_args=self.file_client_args,
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False,
                backend_args=self.backend_args)
            runner.logger.info(
                f'The best checkpoint with {score:0.4f} {key_indicator} at '
                f'{step} {unit} is saved to {name}.')
            if previous and previous != path:
                replaced.append(previous)
        if not updated:
            return
        # Re-save the step checkpoint with the new best in its message hub
        # (as MMEngine does), so a resumed run knows which file to replace.
        if self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)
        for previous in replaced:
            self._remove(runner, previous, 'previous best checkpoint')

    # ------------------------------------------------------------------
    def save_interrupt_checkpoint(self, runner) -> Optional[str]:
        """Save a checkpoint to resume from after the current iteration.

        Called by :class:`~bpfn.engine.hooks.GracefulStopHook` from
        ``after_train_iter``. An epoch-based loop saves
        ``epoch_<done>_iter_<n>.pth`` with ``meta['epoch_batches']``, the
        batches of the current epoch already trained, which
        :class:`~bpfn.engine.BPFNRunner` skips on resume; an
        iteration-based loop saves its regular step checkpoint
        (``iter_<n>.pth``). ``last_checkpoint`` points to it.

        Returns:
            str | None: The file saved, or None if the train sampler cannot
            skip batches (then nothing is saved).
        """
        from mmengine.runner import EpochBasedTrainLoop

        from ..resumable_sampler import ResumableSampler
        done = runner.iter + 1
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop):
            # MMEngine's iteration-based loop resumes mid-way by itself.
            self._save_checkpoint_with_step(
                runner, done, meta=dict(epoch=runner.epoch, iter=done))
            return self.last_ckpt
        if not isinstance(loop.dataloader.sampler, ResumableSampler):
            return None
        per_epoch = loop.max_iters // loop.max_epochs
        batches = done - runner.epoch * per_epoch
        name = f'epoch_{runner.epoch}_iter_{done}.pth'
        runner.save_checkpoint(
            self.out_dir,
            name,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=dict(epoch=runner.epoch, iter=done, epoch_batches=batches),
            by_epoch=True,
            backend_args=self.backend_args,
            **self.args)
        path = self.file_backend.join_path(self.out_dir, name)
        if is_main_process():
            write_last_checkpoint(runner.work_dir, path)
        return path


__all__ = ['SafeCheckpointHook']
