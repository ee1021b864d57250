"""Tests of bpfn.utils.checkpoint resolution and bpfn.utils.fileio."""
import json
import os

import pytest
import torch

from bpfn.utils import (CheckpointError, atomic_write_json,
                        find_latest_checkpoint, is_complete_checkpoint,
                        load_checkpoint_file, resolve_checkpoint)


def _save(path, value):
    torch.save(dict(state_dict=dict(w=torch.full((4, ), float(value)))),
               path)


def test_newest_complete_checkpoint_skips_truncated(tmp_path):
    for epoch in (1, 2, 3):
        _save(tmp_path / f'epoch_{epoch}.pth', epoch)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    data = (tmp_path / 'epoch_3.pth').read_bytes()
    (tmp_path / 'epoch_3.pth').write_bytes(data[:len(data) // 2])
    logged = []
    path = find_latest_checkpoint(str(tmp_path), logged.append)
    assert os.path.basename(path) == 'epoch_2.pth'
    assert 'epoch_3.pth is truncated or corrupt' in logged[0]
    assert not is_complete_checkpoint(str(tmp_path / 'epoch_3.pth'))
    assert is_complete_checkpoint(path)
    assert resolve_checkpoint(str(tmp_path)) == path


def test_scan_without_pointer_and_empty_dir(tmp_path):
    _save(tmp_path / 'epoch_2.pth', 2)
    _save(tmp_path / 'epoch_10.pth', 10)
    assert find_latest_checkpoint(str(tmp_path)).endswith('epoch_10.pth')
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(CheckpointError, match='holds no checkpoint to '
                       'resume from'):
        find_latest_checkpoint(str(empty))


def test_truncated_file_error_names_it(tmp_path):
    _save(tmp_path / 'a.pth', 1)
    data = (tmp_path / 'a.pth').read_bytes()
    (tmp_path / 'a.pth').write_bytes(data[:100])
    with pytest.raises(CheckpointError, match=r'a\.pth is truncated or '
                       'corrupt'):
        load_checkpoint_file(str(tmp_path / 'a.pth'))


def test_atomic_write_json_leaves_no_temp(tmp_path):
    out = tmp_path / 'r.json'
    atomic_write_json(dict(a=1), str(out))
    with pytest.raises(TypeError):
        atomic_write_json(dict(a=object()), str(out))
    assert json.loads(out.read_text()) == dict(a=1)
    assert os.listdir(tmp_path) == ['r.json']
