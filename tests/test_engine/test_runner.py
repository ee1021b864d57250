"""BPFNRunner: checkpoints load with weights_only=True and resume."""
import os
import pickletools
import zipfile

import torch
from mmengine.logging import HistoryBuffer

from bpfn.engine import BPFNRunner
from bpfn.utils import bpfn_safe_globals
from bpfn.utils.safe_globals import SafeHistoryBuffer
from .test_hooks.toy_runner import toy_runner_cfg


def _globals(path) -> set:
    with zipfile.ZipFile(path) as archive:
        name = [n for n in archive.namelist() if n.endswith('data.pkl')][0]
        data = archive.read(name)
    return {arg for op, arg, _ in pickletools.genops(data)
            if op.name in ('GLOBAL', 'STACK_GLOBAL') and arg}


def test_checkpoint_loads_weights_only_and_resumes(tmp_path):
    runner = BPFNRunner(**toy_runner_cfg(str(tmp_path / 'a'), epochs=1))
    runner.train()
    path = tmp_path / 'a' / 'epoch_1.pth'
    assert not any('getattr' in g for g in _globals(path))
    with torch.serialization.safe_globals(bpfn_safe_globals()):
        ckpt = torch.load(path, weights_only=True)
    scalars = ckpt['message_hub']['log_scalars']
    assert scalars and all(isinstance(v, SafeHistoryBuffer)
                           for v in scalars.values())
    # The runner's own message hub keeps MMEngine's buffers.
    live = runner.message_hub.log_scalars['train/loss']
    assert type(live) is HistoryBuffer
    saved = scalars['train/loss']
    assert saved.data[0].tolist() == live.data[0].tolist()
    assert saved.data[1].tolist() == live.data[1].tolist()
    assert saved.max_length == live.max_length

    resumed = BPFNRunner(**toy_runner_cfg(
        str(tmp_path / 'b'), epochs=2, load_from=str(path), resume=True))
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 8
    loss = resumed.message_hub.log_scalars['train/loss']
    assert isinstance(loss, HistoryBuffer)
    # 4 resumed values + 4 new ones.
    assert len(loss.data[0]) == 8
    assert loss.data[0][:4].tolist() == live.data[0].tolist()


def test_default_hooks_are_the_crash_safe_ones(tmp_path):
    from mmengine.hooks import CheckpointHook

    from bpfn.engine import GracefulStopHook, SafeCheckpointHook
    runner = BPFNRunner(**toy_runner_cfg(str(tmp_path / 'a')))
    types = [type(h) for h in runner.hooks]
    assert SafeCheckpointHook in types and CheckpointHook not in types
    assert GracefulStopHook in types
    # graceful_stop=None leaves the signal handling as it is.
    cfg = toy_runner_cfg(str(tmp_path / 'b'))
    cfg['default_hooks']['graceful_stop'] = None
    types = [type(h) for h in BPFNRunner(**cfg).hooks]
    assert GracefulStopHook not in types and SafeCheckpointHook in types


def test_train_holds_the_work_dir_lock(tmp_path):
    from mmengine.hooks import Hook

    seen = []

    class _Look(Hook):

        def before_train(self, runner) -> None:
            seen.append((tmp_path / 'train.lock').read_text())

    runner = BPFNRunner(**toy_runner_cfg(str(tmp_path),
                                         custom_hooks=[_Look()]))
    runner.train()
    assert f'"pid": {os.getpid()}' in seen[0]
    assert not (tmp_path / 'train.lock').exists()


def test_runners_built_in_one_second_do_not_share_a_logger(tmp_path,
                                                         monkeypatch):
    import time

    # Both runners see the same clock second.
    now = time.time()
    monkeypatch.setattr(time, 'time', lambda: now)
    first = BPFNRunner(**toy_runner_cfg(str(tmp_path / 'a'),
                                        experiment_name='same'))
    second = BPFNRunner(**toy_runner_cfg(str(tmp_path / 'b'),
                                         experiment_name='same'))
    base = time.strftime('%Y%m%d_%H%M%S', time.localtime(now))
    assert first.timestamp.startswith(base)
    assert second.timestamp.startswith(f'{base}_')
    assert second.timestamp != first.timestamp
    assert first.logger is not second.logger
    assert first.message_hub is not second.message_hub
    second.logger.warning('only in the second log')
    first_log = tmp_path / 'a' / first.timestamp / f'{first.timestamp}.log'
    second_log = (tmp_path / 'b' / second.timestamp /
                  f'{second.timestamp}.log')
    assert 'only in the second log' in second_log.read_text()
    assert 'only in the second log' not in first_log.read_text()


def test_persistent_workers_end_with_training_and_testing(tmp_path):
    # Data loader workers ignore SIGTERM (GracefulStopHook); persistent ones
    # outlive their epoch, and the interpreter's exit, which terminates its
    # daemonic children with SIGTERM and then joins them, waited for them
    # forever after training or testing had finished.
    import subprocess

    from bpfn_test_utils import run_tool, write_tiny_config
    config = write_tiny_config(tmp_path, epochs=1, nval=4)
    workers = [f'{split}_dataloader.{key}={value}'
               for split in ('train', 'val', 'test')
               for key, value in (('num_workers', 1),
                                  ('persistent_workers', True))]
    work = str(tmp_path / 'work')
    runs = [('train.py', config, '--work-dir', work),
            ('test.py', config, os.path.join(work, 'epoch_1.pth'),
             '--work-dir', str(tmp_path / 'test'))]
    for script, *args in runs:
        try:
            proc = run_tool(script, *args, '--cfg-options', *workers,
                            timeout=150)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'{script} did not exit: its persistent '
                                 'data loader workers kept it waiting')
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert 'EPE3D' in proc.stdout + proc.stderr


def test_shut_down_workers_ends_persistent_and_held_iterators(tmp_path):
    # The workers of a persistent loader and of an iterator that a loop
    # keeps (as MetaKDTrainLoop keeps its quiz batches) end with training.
    import multiprocessing

    from torch.utils.data import DataLoader

    from .test_hooks.toy_runner import ToyFlowData, toy_collate

    def new_children() -> set:
        return set(multiprocessing.active_children()) - before

    before = set(multiprocessing.active_children())
    cfg = toy_runner_cfg(str(tmp_path))
    cfg['train_dataloader'].update(num_workers=1, persistent_workers=True)
    runner = BPFNRunner(**cfg)
    loop = runner.train_loop
    loop.held_iter = iter(DataLoader(ToyFlowData(4), batch_size=2,
                                     num_workers=1, collate_fn=toy_collate))
    next(loop.held_iter)
    assert len(new_children()) == 1  # the held iterator's worker
    runner.train()
    assert loop.dataloader._iterator is None
    assert new_children() == set()


class _SlowAfterFirst(torch.utils.data.Dataset):
    """Sample 0 at once, every other one after a minute."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, idx: int) -> torch.Tensor:
        if idx:
            import time
            time.sleep(60)
        return torch.zeros(1)


def test_shut_down_workers_kills_a_busy_worker(tmp_path, monkeypatch):
    # A worker that ignores SIGTERM (as the runner's workers do) and is
    # still busy with a batch outlives the loader's stop message, SIGTERM
    # and join; it is killed, so that the process can exit.
    import functools
    import multiprocessing
    import time

    from torch.utils.data import DataLoader
    from torch.utils.data import _utils as loader_utils

    from bpfn.engine.hooks import graceful_worker_init_fn
    monkeypatch.setattr(loader_utils, 'MP_STATUS_CHECK_INTERVAL', 0.2)
    before = set(multiprocessing.active_children())
    runner = BPFNRunner(**toy_runner_cfg(str(tmp_path)))
    loop = runner.train_loop
    loop.held_iter = iter(DataLoader(
        _SlowAfterFirst(), batch_size=1, num_workers=1,
        worker_init_fn=functools.partial(graceful_worker_init_fn,
                                         num_workers=1, rank=0)))
    next(loop.held_iter)  # the worker is now sleeping in sample 1
    worker = (set(multiprocessing.active_children()) - before).pop()
    start = time.time()
    runner.shut_down_workers()
    assert not worker.is_alive() and time.time() - start < 30
