"""Bad-input catalogue, checkpoints and work dirs: a corrupt, altered,
wrongly typed or mismatched checkpoint, a stale pointer or a work dir in
use fails on every path with a message naming the file and the problem."""
import json
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from bpfn.apis import init_model
from bpfn.registry import MODELS
from bpfn.utils import (CheckpointError, WorkDirLock, WorkDirLockedError,
                        find_latest_checkpoint, load_checkpoint_file,
                        load_model_weights)
from bpfn_test_utils import REPO, load_script, write_tiny_config

#: The network of tests/bpfn_test_utils.py's tiny config.
TINY: Dict = dict(
    type='BiPointFlowNet',
    num_points=[128, 64, 32, 16],
    feat_neighbors=8,
    flow_neighbors=8,
    estimator_neighbors=8,
    width_mult=0.25,
    estimator_channels=[16, 16],
    estimator_mlp=[16, 16])
ALTERED = ('is corrupt or altered: record {record} does not match its '
           'CRC-32 (its bytes changed after it was saved); restore the file '
           'or use another checkpoint')


def _build(cfg: Dict) -> torch.nn.Module:
    init_default_scope('bpfn')
    return MODELS.build(dict(cfg))


def _tool(*parts: str):
    path = osp.join(REPO, 'tools', *parts)
    return load_script(path, 'bpfn_tool_' + parts[-1][:-3])


def alter(src: str, dst: str) -> str:
    """Copy ``src`` to ``dst`` with one byte of its largest record flipped.

    Returns:
        str: The name of the altered record.
    """
    with zipfile.ZipFile(src) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    data = bytearray(Path(src).read_bytes())
    # Local header: 30 bytes, then the name and the extra field.
    start = info.header_offset
    name_len = int.from_bytes(data[start + 26:start + 28], 'little')
    extra_len = int.from_bytes(data[start + 28:start + 30], 'little')
    offset = start + 30 + name_len + extra_len + info.file_size // 2
    data[offset] ^= 0x55
    Path(dst).write_bytes(bytes(data))
    return info.filename


@pytest.fixture(scope='module')
def teacher(tmp_path_factory) -> Dict[str, str]:
    """A plain state dict of the tiny network, and its altered copy."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp('ckpt')
    path = str(folder / 'teacher.pth')
    torch.save(dict(state_dict=_build(TINY).state_dict()), path)
    bad = str(folder / 'altered.pth')
    record = alter(path, bad)
    return dict(path=path, altered=bad, record=record)


def _altered_message(teacher) -> str:
    return (f'checkpoint {teacher["altered"]} '
            + ALTERED.format(record=teacher['record']))


# 1. An altered checkpoint is refused on every path that loads one ---------
def test_altered_checkpoint_refused_by_the_loader(teacher):
    # torch itself would load it: the flipped byte changes a weight.
    loaded = torch.load(teacher['altered'], weights_only=True)
    original = torch.load(teacher['path'], weights_only=True)
    assert any(not torch.equal(v, original['state_dict'][k])
               for k, v in loaded['state_dict'].items())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint_file(teacher['altered'])
    assert str(info.value) == _altered_message(teacher)
    # Also when the caller vouches for the file's types.
    with pytest.raises(CheckpointError, match='is corrupt or altered'):
        load_checkpoint_file(teacher['altered'], allow_unsafe=True)


def test_altered_checkpoint_refused_by_init_model_and_the_demo(teacher):
    cfg = Config(dict(default_scope='bpfn', model=TINY))
    with pytest.raises(CheckpointError) as info:
        init_model(cfg, teacher['altered'])
    assert str(info.value) == _altered_message(teacher)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(_build(TINY), teacher['altered'])
    assert str(info.value) == _altered_message(teacher)


def test_altered_teacher_ckpt_names_the_field(teacher):
    with pytest.raises(CheckpointError) as info:
        _build(dict(type='SceneFlowDistiller', student=dict(TINY,
                                                            weightnet=4),
                    teacher=TINY, teacher_ckpt=teacher['altered']))
    assert str(info.value) == 'model.teacher_ckpt: ' + _altered_message(
        teacher)


def test_altered_checkpoint_refused_by_the_converters(teacher, tmp_path):
    convert = _tool('model_converters', 'convert_official.py').convert
    config = osp.join(REPO, 'configs', 'bpfn', 'bpfn_ft3d.py')
    with pytest.raises(CheckpointError) as info:
        convert(teacher['altered'], str(tmp_path / 'out.pth'), config)
    assert str(info.value) == _altered_message(teacher)
    extract = _tool('model_converters', 'extract_student.py')
    with pytest.raises(SystemExit) as info:
        extract.main([teacher['altered'], str(tmp_path / 'student.pth')])
    assert str(info.value.code) == 'extract_student: ' + _altered_message(
        teacher)
    assert os.listdir(tmp_path) == []


def test_altered_checkpoint_refused_by_test_tool(teacher, tmp_path):
    config = write_tiny_config(tmp_path)
    with pytest.raises(SystemExit) as info:
        _tool('test.py').main([config, teacher['altered'], '--work-dir',
                               str(tmp_path / 'work')])
    assert str(info.value.code) == 'error: ' + _altered_message(teacher)


def test_altered_checkpoint_refused_by_resume_file(trained_checkpoint,
                                                   tmp_path):
    config, ckpt = trained_checkpoint
    bad = str(tmp_path / 'epoch_1.pth')
    record = alter(ckpt, bad)
    work = tmp_path / 'work'
    with pytest.raises(SystemExit) as info:
        _tool('train.py').main([config, '--work-dir', str(work), '--resume',
                                bad])
    assert str(info.value.code) == f'error: checkpoint {bad} ' + \
        ALTERED.format(record=record)
    assert not list(work.glob('*.pth')) and not (work /
                                                 'train.lock').exists()


def test_altered_checkpoint_refused_as_load_from(teacher, tmp_path):
    config = write_tiny_config(tmp_path)
    with pytest.raises(SystemExit) as info:
        _tool('train.py').main([
            config, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
            f'load_from={teacher["altered"]}'])
    assert str(info.value.code) == 'error: ' + _altered_message(teacher)


def test_altered_newest_checkpoint_is_skipped_on_resume(tmp_path, teacher):
    for epoch in (1, 2):
        shutil.copy(teacher['path'], tmp_path / f'epoch_{epoch}.pth')
    alter(teacher['path'], str(tmp_path / 'epoch_3.pth'))
    (tmp_path / 'last_checkpoint').write_text('epoch_3.pth')
    logged = []
    path = find_latest_checkpoint(str(tmp_path), logged.append)
    assert path == str(tmp_path / 'epoch_2.pth')
    assert logged == [
        f'checkpoint {tmp_path / "epoch_3.pth"} is corrupt or altered; '
        'skipping it',
        f'using the previous complete checkpoint {path}']


def test_zip_without_pickle_is_refused(tmp_path):
    path = tmp_path / 'weights.pth'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('weights/data/0', b'\0' * 16)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint_file(str(path))
    assert str(info.value) == (
        f'checkpoint {path} is corrupt or altered: its archive holds no '
        'data.pkl record (not a torch checkpoint?)')


# 2. Checkpoints that are not a state dict ---------------------------------
EXPECTED = ("expected a state dict (a dict of tensors, as model.state_dict() "
            "returns) or a checkpoint dict with a 'state_dict' entry")
NOT_A_STATE_DICT = {
    'bare_tensor': (lambda: torch.zeros(3), 'holds a bare Tensor; '),
    'list': (lambda: [torch.zeros(3)], 'holds a list; '),
    'non_tensor_values': (
        lambda: {'w': torch.zeros(3), 'note': 'hi', 'sizes': [1, 2]},
        'holds no state dict of tensors: in it, 2 entries are not tensors: '
        'note (str), sizes (list); '),
    'state_dict_list': (lambda: dict(state_dict=[torch.zeros(3)]),
                        ": its 'state_dict' entry is a list; "),
    'empty_dict': (lambda: {}, ': it is empty; '),
}


@pytest.mark.parametrize('case', sorted(NOT_A_STATE_DICT))
def test_checkpoint_that_is_not_a_state_dict(tmp_path, case):
    make, problem = NOT_A_STATE_DICT[case]
    path = tmp_path / f'{case}.pth'
    torch.save(make(), path)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(_build(TINY), str(path))
    sep = '' if problem.startswith(':') else ' '
    assert str(info.value) == f'checkpoint {path}{sep}{problem}{EXPECTED}'


def test_bare_tensor_checkpoint_through_test_tool(tmp_path):
    path = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(3), path)
    config = write_tiny_config(tmp_path)
    with pytest.raises(SystemExit) as info:
        _tool('test.py').main([config, str(path), '--work-dir',
                               str(tmp_path / 'work')])
    assert str(info.value.code) == (
        f'error: checkpoint {path} holds a bare Tensor; {EXPECTED}')


# 3. Tensors of another dtype are not cast silently ------------------------
@pytest.mark.parametrize('dtype', [torch.float16, torch.float64])
def test_floating_dtype_other_than_the_models(tmp_path, dtype):
    state = {k: v.to(dtype) if v.is_floating_point() else v
             for k, v in _build(TINY).state_dict().items()}
    path = tmp_path / 'cast.pth'
    torch.save(dict(state_dict=state), path)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(_build(TINY), str(path))
    lines = str(info.value).splitlines()
    count = sum(1 for v in state.values() if v.is_floating_point())
    assert lines[0] == (f'checkpoint {path} does not fit BiPointFlowNet '
                        '(wrong architecture or config?)')
    first = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    assert lines[1].startswith(
        f'  dtype mismatches ({count}): {first}: checkpoint {dtype} vs model '
        'torch.float32, ')
    assert lines[1].endswith(f'... and {count - 20} more')
    assert lines[2] == ('  tensors are not cast on loading: convert the '
                        "checkpoint to the model's dtypes first")


def test_integer_buffers_stored_as_floats(tmp_path):
    state = _build(TINY).state_dict()
    counters = sorted(k for k in state if k.endswith('num_batches_tracked'))
    for key in counters:
        state[key] = state[key].float()
    path = tmp_path / 'counters.pth'
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        _build(dict(type='SceneFlowDistiller', student=dict(TINY,
                                                            weightnet=4),
                    teacher=TINY, teacher_ckpt=str(path)))
    lines = str(info.value).splitlines()
    assert lines[0] == (f'model.teacher_ckpt: checkpoint {path} does not fit '
                        'BiPointFlowNet (wrong architecture or config?)')
    assert lines[1].startswith(f'  dtype mismatches ({len(counters)}): '
                               f'{counters[0]}: checkpoint torch.float32 vs '
                               'model torch.int64')


# 4. Resuming from a checkpoint that cannot continue this run --------------
def _train(argv):
    with pytest.raises(SystemExit) as info:
        _tool('train.py').main(argv)
    return str(info.value.code)


def test_resume_from_weights_only(trained_checkpoint, tmp_path):
    config, ckpt = trained_checkpoint
    path = str(tmp_path / 'weights.pth')
    torch.save(load_checkpoint_file(ckpt)['state_dict'], path)
    message = _train([config, '--work-dir', str(tmp_path / 'w'), '--resume',
                      path])
    assert message == (
        f'error: cannot resume from {path}: it holds weights only, no '
        'training state (meta, optimizer); resume from a checkpoint saved by '
        'tools/train.py, or start a new run from these weights with '
        f'load_from={path} (without --resume)')


def _kd_config(folder, teacher_ckpt: str, meta: bool = False) -> str:
    """The tiny config with a (meta-)KD model distilling into itself."""
    path = write_tiny_config(folder, epochs=1, nval=2)
    kind = 'MetaSceneFlowDistiller' if meta else 'SceneFlowDistiller'
    with open(path, 'a') as f:
        f.write(f'''
net = dict(_base_.model, **model)
model = dict(_delete_=True, type={kind!r}, student=net, teacher=net,
             teacher_ckpt={teacher_ckpt!r},
             distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
''')
        if meta:
            f.write('''
train_cfg = dict(train_cfg, type='MetaKDTrainLoop',
                 quiz_dataloader=val_dataloader)
''')
    return path


def test_distiller_resumed_from_a_network_checkpoint(trained_checkpoint,
                                                     tmp_path):
    _, ckpt = trained_checkpoint
    config = _kd_config(tmp_path, ckpt)
    message = _train([config, '--work-dir', str(tmp_path / 'w'), '--resume',
                      ckpt])
    assert message == (
        f'error: cannot resume from {ckpt}: the checkpoint holds a network '
        '(no student.* entries) but the model is a distiller '
        '(SceneFlowDistiller); a distiller resumes only from a checkpoint '
        'of a distiller run; give this network as model.teacher_ckpt, or '
        'start the distillation without --resume')


def _as_distiller_checkpoint(ckpt: str, path: str, teacher=False) -> None:
    """A training checkpoint whose state dict is a distiller's."""
    data = load_checkpoint_file(ckpt)
    state = {f'student.{k}': v for k, v in data['state_dict'].items()}
    if teacher:
        state.update({f'teacher.{k}': v.clone()
                      for k, v in data['state_dict'].items()})
    data['state_dict'] = state
    data.pop('optimizer')
    torch.save(data, path)


def test_network_resumed_from_a_distiller_checkpoint(trained_checkpoint,
                                                     tmp_path):
    config, ckpt = trained_checkpoint
    path = str(tmp_path / 'kd.pth')
    _as_distiller_checkpoint(ckpt, path)
    message = _train([config, '--work-dir', str(tmp_path / 'w'), '--resume',
                      path])
    assert message == (
        f'error: cannot resume from {path}: the checkpoint holds a '
        'distiller (student.* entries) but the model is a network '
        "(BiPointFlowNet); resume it with the distiller's config, or start a "
        f'new run from its student with load_from={path} (without --resume)')


def test_optimizer_state_of_another_model(trained_checkpoint, tmp_path):
    config, ckpt = trained_checkpoint
    data = load_checkpoint_file(ckpt)
    params = data['optimizer']['param_groups'][0]['params']
    count = len(params)
    data['optimizer']['param_groups'][0]['params'] = params[:-2]
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(data, path)
    message = _train([config, '--work-dir', str(tmp_path / 'w'), '--resume',
                      path])
    assert message == (
        f'error: cannot resume from {path}: its optimizer state has 1 '
        f'parameter group(s) of [{count - 2}] parameters, the optimizer of '
        f'this config 1 of [{count}] (another model or paramwise_cfg?)')


def test_changed_optimizer_setting_is_reported(trained_checkpoint, tmp_path,
                                               capsys):
    config, ckpt = trained_checkpoint
    # The checkpoint ends training (1 epoch): resume, report, stop.
    _tool('train.py').main([
        config, '--work-dir', str(tmp_path / 'w'), '--resume', ckpt,
        '--cfg-options', 'optim_wrapper.optimizer.lr=0.05',
        'optim_wrapper.optimizer.weight_decay=0.0'])
    log = capsys.readouterr().out
    assert (f'optimizer settings differ from the checkpoint {ckpt}; training '
            'continues with the resumed ones: lr in the config 0.05, resumed '
            'optimizer state has 0.001; weight_decay in the config 0, '
            'resumed optimizer state has 0.0001') in log


def test_meta_kd_resumed_without_a_taught_teacher(trained_checkpoint,
                                                  tmp_path, capsys):
    _, ckpt = trained_checkpoint
    path = str(tmp_path / 'hint_kd.pth')
    _as_distiller_checkpoint(ckpt, path)
    config = _kd_config(tmp_path, ckpt, meta=True)
    _tool('train.py').main([config, '--work-dir', str(tmp_path / 'w'),
                            '--resume', path])
    log = capsys.readouterr().out
    assert (f'checkpoint {path} holds no taught teacher (no teacher.* / '
            'teacher_optimizer.* entries: not a meta-KD checkpoint); the '
            f'taught teacher restarts from model.teacher_ckpt ({ckpt}) and '
            'its optimizer from scratch') in log


def test_distiller_resumed_from_a_meta_kd_checkpoint(trained_checkpoint,
                                                     tmp_path, capsys):
    _, ckpt = trained_checkpoint
    path = str(tmp_path / 'meta_kd.pth')
    _as_distiller_checkpoint(ckpt, path, teacher=True)
    config = _kd_config(tmp_path, ckpt)
    _tool('train.py').main([config, '--work-dir', str(tmp_path / 'w'),
                            '--resume', path])
    log = capsys.readouterr().out
    assert (f'checkpoint {path} holds a taught teacher (teacher.* entries of '
            'a meta-KD run) that SceneFlowDistiller does not train; the '
            f'teacher comes from model.teacher_ckpt ({ckpt})') in log


# 5. Stale or wrong last_checkpoint pointers -------------------------------
def _work_dir(folder: Path, teacher, epochs=(1, 2, 3)) -> Path:
    folder.mkdir()
    for epoch in epochs:
        shutil.copy(teacher['path'], folder / f'epoch_{epoch}.pth')
    return folder


def test_stale_pointer_names_an_older_checkpoint(tmp_path, teacher):
    work = _work_dir(tmp_path / 'work', teacher)
    # Killed after epoch_3.pth was renamed, before the pointer moved on.
    (work / 'last_checkpoint').write_text('epoch_2.pth')
    logged = []
    path = find_latest_checkpoint(str(work), logged.append)
    assert path == str(work / 'epoch_3.pth')
    assert logged == [
        f'last_checkpoint names epoch_2.pth, but {path} is newer and intact '
        '(the pointer is stale: a run stopped before updating it, or a '
        'copied work dir); resuming from the newest intact checkpoint']


def test_copied_work_dir_with_an_absolute_pointer(tmp_path, teacher):
    source = _work_dir(tmp_path / 'source', teacher, epochs=(1, 2))
    (source / 'last_checkpoint').write_text(str(source / 'epoch_2.pth'))
    copy = tmp_path / 'copy'
    shutil.copytree(source, copy)
    shutil.copy(teacher['path'], copy / 'epoch_3.pth')  # trained on
    logged = []
    path = find_latest_checkpoint(str(copy), logged.append)
    assert path == str(copy / 'epoch_3.pth')
    assert logged[0] == (
        f'last_checkpoint names {source / "epoch_2.pth"} in another folder '
        f"(a copied or moved work dir?); using this work dir's "
        f'{copy / "epoch_2.pth"}')
    assert logged[1].startswith('last_checkpoint names epoch_2.pth, but '
                                f'{path} is newer and intact')


def test_pointer_to_a_missing_checkpoint(tmp_path, teacher):
    work = _work_dir(tmp_path / 'work', teacher, epochs=(1, ))
    (work / 'last_checkpoint').write_text('epoch_2.pth')
    logged = []
    assert find_latest_checkpoint(str(work), logged.append) == str(
        work / 'epoch_1.pth')
    assert logged == [
        f'last_checkpoint names {work / "epoch_2.pth"}, which is missing; '
        'skipping it',
        f'using the previous complete checkpoint {work / "epoch_1.pth"}']


def test_no_intact_checkpoint_lists_each_problem(tmp_path, teacher):
    work = tmp_path / 'work'
    work.mkdir()
    alter(teacher['path'], str(work / 'epoch_2.pth'))
    data = Path(teacher['path']).read_bytes()
    (work / 'epoch_1.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        find_latest_checkpoint(str(work))
    assert str(info.value) == (
        f'work dir {work} holds no complete checkpoint; skipped epoch_2.pth '
        '(corrupt or altered), epoch_1.pth (truncated or corrupt)')


# 6. One run per work dir ---------------------------------------------------
@pytest.fixture
def live_process():
    proc = subprocess.Popen([sys.executable, '-c',
                             'import time; time.sleep(60)'])
    yield proc
    proc.kill()
    proc.wait()


def _lock_file(folder: Path, **info) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'train.lock').write_text(json.dumps(info))


def test_work_dir_held_by_a_live_run(tmp_path, live_process):
    work = tmp_path / 'work'
    _lock_file(work, pid=live_process.pid, host=socket.gethostname(),
               started='2026-01-01 10:00:00',
               command='python tools/train.py a.py')
    with pytest.raises(WorkDirLockedError) as info:
        WorkDirLock(str(work)).acquire()
    assert str(info.value) == (
        f'work dir {work} is in use by another training run (pid '
        f'{live_process.pid} on {socket.gethostname()}, started 2026-01-01 '
        '10:00:00, command: python tools/train.py a.py); two runs in one '
        "work dir overwrite each other's checkpoints. Wait for it to end, "
        f'stop it, or use another --work-dir. If that run is gone, delete '
        f'{work / "train.lock"}')


def test_work_dir_held_on_another_host(tmp_path):
    _lock_file(tmp_path, pid=1, host='node-17', slurm_job_id='99')
    with pytest.raises(WorkDirLockedError) as info:
        WorkDirLock(str(tmp_path)).acquire()
    assert str(info.value).startswith(
        f'work dir {tmp_path} is in use by another training run (pid 1 on '
        'node-17, Slurm job 99); ')
    assert str(info.value).endswith(f'delete {tmp_path / "train.lock"}')


def test_unreadable_lock_file(tmp_path):
    (tmp_path / 'train.lock').write_text('not json')
    with pytest.raises(WorkDirLockedError) as info:
        WorkDirLock(str(tmp_path)).acquire()
    assert str(info.value) == (
        f'work dir {tmp_path} has a lock file {tmp_path / "train.lock"} that '
        'is not a bpfn lock (unreadable); if no training run uses this work '
        'dir, delete the file')


def test_second_train_run_in_one_work_dir_stops(tmp_path):
    """A real first run holds the lock; the second stops, naming it."""
    config = write_tiny_config(tmp_path, epochs=1, nval=2)
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('BPFN_KILL_AT_ITER', None)
    first = subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
         '--work-dir', str(work)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        lock = work / 'train.lock'
        for _ in range(600):
            if lock.exists() and lock.read_text().strip():
                break
            assert first.poll() is None, first.stdout.read()
            time.sleep(0.05)
        message = _train([config, '--work-dir', str(work)])
        assert message.startswith(
            f'error: work dir {work} is in use by another training run (pid '
            f'{first.pid} on {socket.gethostname()}, started ')
        assert f'tools/train.py {config} --work-dir {work}' in message
    finally:
        out, _ = first.communicate(timeout=240)
    # The first run was not disturbed: it finished, released the lock and
    # left its checkpoints complete.
    assert first.returncode == 0, out[-3000:]
    assert not (work / 'train.lock').exists()
    assert (work / 'last_checkpoint').read_text() == 'epoch_1.pth'
    assert load_checkpoint_file(str(work / 'epoch_1.pth'))['meta']['iter'] \
        == 4
    assert re.search(r'Epoch\(train\) \[1\]\[4/4\]', out)
