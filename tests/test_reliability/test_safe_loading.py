"""Checkpoints load with ``weights_only=True`` and bpfn's allowlist: a
pickle that would run code on loading is refused everywhere by default."""
import builtins
import collections
import os.path as osp
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from bpfn.apis.inference import init_model
from bpfn.registry import MODELS
from bpfn.utils import (CheckpointError, load_checkpoint_file,
                        load_model_weights)
from bpfn_test_utils import REPO, load_script, write_tiny_config

TINY = dict(
    type='BiPointFlowNet',
    num_points=[128, 64, 32, 16],
    feat_neighbors=8,
    flow_neighbors=8,
    estimator_neighbors=8,
    width_mult=0.25,
    estimator_channels=[16, 16],
    estimator_mlp=[16, 16])
REFUSAL = 'holds objects outside the types bpfn saves'


def _assert_refusal(msg: str, path: str, prefix: str = '') -> None:
    """The refusal names the file, the risk and the opt-in options."""
    assert msg.startswith(f'{prefix}checkpoint {path} {REFUSAL}'), msg
    for part in ('loading them could run code',
                 'Only if you trust the file, pass allow_unsafe=True',
                 '--unsafe-load'):
        assert part in msg, part
    assert 'truncated' not in msg


class _CreatesMarker:
    """Unpickles as ``open(marker, 'w')``: a file appears if it ever runs."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Tuple[Any, tuple]:
        return builtins.open, (self.marker, 'w')


@dataclass
class _Benign:
    """A harmless type outside the allowlist."""
    value: int


def _malicious_checkpoint(folder: Path, fmt: str = 'torch') -> Tuple[str,
                                                                     Path]:
    """A checkpoint with real weights whose meta would create a marker."""
    marker = folder / 'MARKER'
    init_default_scope('bpfn')
    state = MODELS.build(dict(TINY)).state_dict()
    ckpt = dict(state_dict=state, meta=dict(hook=_CreatesMarker(str(marker))))
    path = folder / f'malicious.{fmt}'
    if fmt == 'torch':
        torch.save(ckpt, path)
    else:
        with open(path, 'wb') as f:
            pickle.dump(ckpt, f, protocol=2)
    return str(path), marker


@pytest.mark.parametrize('fmt', ['torch', 'pickle'])
def test_load_checkpoint_file_refuses_code(tmp_path, fmt):
    path, marker = _malicious_checkpoint(tmp_path, fmt)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint_file(path)
    _assert_refusal(str(info.value), path)
    assert not marker.exists()


def test_refusal_names_the_forbidden_global(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match='Unsupported global: GLOBAL '
                       'io.open'):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_init_model_and_teacher_refuse_code(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    cfg = Config(dict(default_scope='bpfn', model=TINY))
    with pytest.raises(CheckpointError) as info:
        init_model(cfg, path)
    _assert_refusal(str(info.value), path)
    init_default_scope('bpfn')
    with pytest.raises(CheckpointError) as info:
        MODELS.build(
            dict(type='SceneFlowDistiller', student=dict(TINY, weightnet=4),
                 teacher=TINY, teacher_ckpt=path))
    _assert_refusal(str(info.value), path, 'model.teacher_ckpt: ')
    assert not marker.exists()


def test_test_tool_refuses_code_and_explains_unsafe_load(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    config = write_tiny_config(tmp_path)
    tool = load_script(osp.join(REPO, 'tools', 'test.py'), 'bpfn_test_tool')
    with pytest.raises(SystemExit) as info:
        tool.main([config, path, '--work-dir', str(tmp_path / 'work')])
    _assert_refusal(str(info.value.code), path, 'error: ')
    assert not marker.exists()
    # The option the message points to exists; the refusal is the default.
    assert tool.parse_args([config, path]).unsafe_load is False
    assert tool.parse_args([config, path, '--unsafe-load']).unsafe_load


def test_allowlisted_bpfn_checkpoint_loads_by_default(tmp_path):
    init_default_scope('bpfn')
    model = MODELS.build(dict(TINY))
    meta = dict(
        epoch=3,
        iter=12,
        cfg=ConfigDict(model=dict(type='BiPointFlowNet')),
        seed=np.int64(7),
        history=collections.OrderedDict(loss=np.array([0.5, 0.25])))
    path = str(tmp_path / 'epoch_3.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    ckpt = load_checkpoint_file(path)
    assert ckpt['meta']['seed'] == 7 and ckpt['meta']['iter'] == 12
    assert ckpt['meta']['cfg'].model.type == 'BiPointFlowNet'
    np.testing.assert_array_equal(ckpt['meta']['history']['loss'],
                                  [0.5, 0.25])
    other = MODELS.build(dict(TINY))
    assert load_model_weights(other, path)['epoch'] == 3
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key


def test_allow_unsafe_is_an_explicit_opt_in(tmp_path):
    # A harmless object outside the allowlist: refused by default, loaded
    # only when the caller vouches for the file (the malicious one above is
    # never loaded this way).
    path = str(tmp_path / 'foreign.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2)), meta=_Benign(5)), path)
    with pytest.raises(CheckpointError, match=REFUSAL):
        load_checkpoint_file(path)
    ckpt = load_checkpoint_file(path, allow_unsafe=True)
    assert ckpt['meta'] == _Benign(5)
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


# 18. Positive control: an original BPF checkpoint loads ------------------
def test_original_bpf_checkpoint_loads_through_init_model(
        tmp_path, bpfn_reference):
    path = str(tmp_path / 'original_bpf.pth')
    torch.save(bpfn_reference['state_dict'], path)
    model = init_model(osp.join(REPO, 'configs', 'bpfn', 'bpfn_ft3d.py'),
                       path)
    assert not model.training
    state = model.state_dict()
    assert set(state) == set(bpfn_reference['state_dict'])
    for key, value in bpfn_reference['state_dict'].items():
        assert torch.equal(state[key], value), key
    assert len(state) == 438
