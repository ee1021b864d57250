"""Tests of bpfn.utils.checkpoint resolution and bpfn.utils.fileio."""
import json
import os

import pytest
import torch

from bpfn.utils import (CheckpointError, atomic_write_json,
                        checkpoint_problem, find_latest_checkpoint,
                        is_complete_checkpoint, list_checkpoints,
                        load_checkpoint_file, read_last_checkpoint,
                        remove_temp_files, resolve_checkpoint,
                        save_best_keys, select_checkpoint,
                        verify_checkpoint_archive, write_last_checkpoint)
from bpfn.utils.checkpoint import checkpoint_order


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


def test_mid_epoch_checkpoints_sort_between_epochs(tmp_path):
    for name in ('epoch_1.pth', 'epoch_1_iter_6.pth', 'epoch_2.pth',
                 'epoch_10.pth', 'epoch_2_iter_11.pth'):
        _save(tmp_path / name, 0)
    ordered, pointer = list_checkpoints(str(tmp_path))
    assert pointer is None
    assert [os.path.basename(p) for p in ordered] == [
        'epoch_10.pth', 'epoch_2_iter_11.pth', 'epoch_2.pth',
        'epoch_1_iter_6.pth', 'epoch_1.pth']
    assert checkpoint_order('epoch_2_iter_11.pth') == ('epoch', 2, 11)
    assert checkpoint_order('best_EPE3D_epoch_2.pth') is None


def test_pointer_is_written_relative_and_read_back(tmp_path):
    work = tmp_path / 'work'
    _save(tmp_path / 'elsewhere.pth', 1)
    work.mkdir()
    _save(work / 'epoch_1.pth', 1)
    write_last_checkpoint(str(work), str(work / 'epoch_1.pth'))
    assert (work / 'last_checkpoint').read_text() == 'epoch_1.pth'
    assert read_last_checkpoint(str(work)) == str(work / 'epoch_1.pth')
    # A checkpoint outside the work dir (CheckpointHook out_dir) keeps its
    # absolute path.
    write_last_checkpoint(str(work), str(tmp_path / 'elsewhere.pth'))
    assert (work / 'last_checkpoint').read_text() == str(tmp_path /
                                                         'elsewhere.pth')
    # MMEngine's pointer, relative to the folder training ran in.
    (work / 'last_checkpoint').write_text('work_dirs/run/epoch_1.pth')
    assert read_last_checkpoint(str(work)) == str(work / 'epoch_1.pth')
    assert sorted(os.listdir(work)) == ['epoch_1.pth', 'last_checkpoint']


def test_legacy_format_checkpoint_still_loads(tmp_path):
    path = tmp_path / 'legacy.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2))), path,
               _use_new_zipfile_serialization=False)
    assert verify_checkpoint_archive(str(path)) == 'legacy'
    assert checkpoint_problem(str(path)) is None
    assert torch.equal(load_checkpoint_file(str(path))['state_dict']['w'],
                       torch.ones(2))


def test_remove_temp_files_only_takes_matching_names(tmp_path):
    for name in ('.epoch_1.pth.123.tmp', '.a.json.x_y.tmp', 'epoch_1.pth',
                 '.epoch_1.pth.tmp'):
        (tmp_path / name).write_text('x')
    removed = remove_temp_files(str(tmp_path),
                                lambda name: name.endswith('.pth'))
    assert removed == ['.epoch_1.pth.123.tmp']
    assert sorted(os.listdir(tmp_path)) == ['.a.json.x_y.tmp',
                                            '.epoch_1.pth.tmp', 'epoch_1.pth']


# ---------------------------------------------------------------------------
# select_checkpoint: the best checkpoint of a work dir first.
def _work_dir_with_best(tmp_path):
    for epoch in (1, 2):
        _save(tmp_path / f'epoch_{epoch}.pth', epoch)
    _save(tmp_path / 'best_EPE3D_epoch_1.pth', 1)
    write_last_checkpoint(str(tmp_path), str(tmp_path / 'epoch_2.pth'))
    return tmp_path


def test_work_dir_resolves_to_the_best_checkpoint(tmp_path):
    work = _work_dir_with_best(tmp_path)
    path, why = select_checkpoint(str(work), save_best=['EPE3D'])
    assert path == str(work / 'best_EPE3D_epoch_1.pth')
    assert why == 'best checkpoint best_EPE3D_epoch_1.pth (save_best EPE3D)'
    # Without the run's save_best keys the newest best file is taken.
    assert select_checkpoint(str(work))[0] == path
    # Resuming still takes the newest checkpoint.
    assert resolve_checkpoint(str(work)) == str(work / 'epoch_2.pth')
    # A file is used as given.
    file = str(work / 'epoch_1.pth')
    assert select_checkpoint(file) == (file, 'checkpoint file given')


def test_work_dir_without_best_resolves_to_the_newest(tmp_path):
    for epoch in (1, 2):
        _save(tmp_path / f'epoch_{epoch}.pth', epoch)
    path, why = select_checkpoint(str(tmp_path), save_best=['EPE3D'])
    assert path == str(tmp_path / 'epoch_2.pth')
    assert why == 'newest checkpoint epoch_2.pth (no best_*.pth)'


def test_corrupt_best_falls_back_to_the_newest_loudly(tmp_path):
    work = _work_dir_with_best(tmp_path)
    best = work / 'best_EPE3D_epoch_1.pth'
    best.write_bytes(best.read_bytes()[:200])
    logged = []
    path, why = select_checkpoint(str(work), logged.append, ['EPE3D'])
    assert path == str(work / 'epoch_2.pth')
    assert why == ('newest checkpoint epoch_2.pth (no intact best_*.pth: '
                   'best_EPE3D_epoch_1.pth is truncated or corrupt)')
    assert logged[0] == (f'best checkpoint {best} is truncated or corrupt; '
                         'not using it')
    assert 'best_EPE3D_epoch_1.pth' in logged[-1]


def test_several_best_files_follow_save_best(tmp_path):
    _save(tmp_path / 'epoch_3.pth', 3)
    _save(tmp_path / 'best_EPE3D_epoch_2.pth', 2)
    _save(tmp_path / 'best_ACC3DS_epoch_3.pth', 3)
    cfg = dict(default_hooks=dict(checkpoint=dict(
        save_best=['EPE3D', 'ACC3DS'])))
    assert save_best_keys(cfg) == ['EPE3D', 'ACC3DS']
    assert save_best_keys(dict(default_hooks=dict(checkpoint=dict(
        save_best='Synthetic/EPE3D')))) == ['Synthetic_EPE3D']
    assert save_best_keys(None) == []
    path, why = select_checkpoint(str(tmp_path), None, save_best_keys(cfg))
    assert path.endswith('best_EPE3D_epoch_2.pth')
    assert why.endswith('(save_best EPE3D)')
    # Without save_best: the newest best (epoch 3).
    path, why = select_checkpoint(str(tmp_path))
    assert path.endswith('best_ACC3DS_epoch_3.pth')
    assert why.endswith('(the newest best_*.pth)')
