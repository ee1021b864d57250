"""Tests of bpfn.utils.tool_utils: threads and --tensorboard."""
import builtins
import os
import sys
import types

import pytest
import torch
from mmengine.config import Config

from bpfn.utils.tool_utils import (ConfigError, busy_cores,
                                   choose_threads, physical_cores,
                                   setup_threads, use_tensorboard)


def test_choose_threads_order():
    def choose(requested=None, env=None, cores=8, busy=0.0):
        return choose_threads(requested, env or {}, cores=cores, busy=busy)

    # --threads wins over everything.
    assert choose(3, dict(OMP_NUM_THREADS='1')) == (3, '--threads')
    # OMP_NUM_THREADS, as torch reads it.
    assert choose(env=dict(OMP_NUM_THREADS='2')) == (2, 'OMP_NUM_THREADS')
    # Plain run: the physical cores.
    assert choose() == (8, 'physical cores')
    # torchrun: the cores of this machine shared by its processes.
    assert choose(env=dict(LOCAL_WORLD_SIZE='4', WORLD_SIZE='8')) == \
        (2, '8 physical cores / 4 processes (LOCAL_WORLD_SIZE)')
    assert choose(env=dict(WORLD_SIZE='3')) == \
        (2, '8 physical cores / 3 processes (WORLD_SIZE)')
    # At least one thread each; a single process keeps all cores.
    assert choose(env=dict(LOCAL_WORLD_SIZE='16'))[0] == 1
    assert choose(env=dict(LOCAL_WORLD_SIZE='1', WORLD_SIZE='4')) == \
        (8, 'physical cores')
    # Cores busy with other work are left out (at least 1 thread).
    assert choose(cores=2, busy=1.9) == \
        (1, '2 physical cores, 1.9 busy with other work')
    assert choose(cores=2, busy=5.0)[0] == 1
    assert choose(busy=2.2) == (6, '8 physical cores, 2.2 busy with other '
                                'work')
    assert choose(busy=0.4) == (8, 'physical cores')
    assert choose(env=dict(LOCAL_WORLD_SIZE='2'), busy=4.0) == \
        (2, '8 physical cores, 4.0 busy with other work / 2 processes '
         '(LOCAL_WORLD_SIZE)')
    with pytest.raises(ValueError, match='--threads must be at least 1'):
        choose(0)
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='two'"):
        choose(env=dict(OMP_NUM_THREADS='two'))


def test_physical_and_busy_cores_of_this_machine():
    assert 0.0 <= busy_cores(0.05) <= os.cpu_count() + 0.5
    cores = physical_cores()
    allowed = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else os.cpu_count()
    assert 1 <= cores <= allowed


def test_setup_threads_sets_torch_and_workers(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setenv('LOCAL_WORLD_SIZE', str(4 * physical_cores()))
    try:
        assert setup_threads(None)[0] == 1
        assert setup_threads(2) == (2, '--threads')
        assert torch.get_num_threads() == 2
        assert os.environ['OMP_NUM_THREADS'] == '2'
        assert os.environ['MKL_NUM_THREADS'] == '2'
    finally:
        torch.set_num_threads(before)


def _cfg():
    return Config(dict(visualizer=dict(
        type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])))


def test_tensorboard_backend_added_beside_the_local_one(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorboard',
                        types.ModuleType('tensorboard'))
    cfg = _cfg()
    use_tensorboard(cfg)
    use_tensorboard(cfg)  # once only
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']


def test_tensorboard_missing_is_a_clear_error(monkeypatch):
    monkeypatch.delitem(sys.modules, 'tensorboard', raising=False)
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == 'tensorboard' or name.startswith('tensorboard.'):
            raise ImportError(f'No module named {name!r}')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_tensorboard)
    cfg = _cfg()
    with pytest.raises(ConfigError, match=r'--tensorboard needs the '
                       r'tensorboard package: pip install tensorboard'):
        use_tensorboard(cfg)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend']
