"""``tools/model_converters/extract_student.py``: keys, atomic write, loads."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from bpfn.registry import MODELS
from bpfn.utils import CheckpointError
from bpfn_test_utils import load_script

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'model_converters', 'extract_student.py')

TEACHER = dict(
    type='BiPointFlowNet', num_points=[32, 16, 16, 8], feat_neighbors=4,
    flow_neighbors=4, estimator_neighbors=4, width_mult=0.25,
    estimator_channels=[32, 32], estimator_mlp=[32, 16])
STUDENT = dict(TEACHER, weightnet=4)
CROSS2 = ['cross2.embedding_12', 'cross2.embedding_21']


def _load_tool():
    return load_script(SCRIPT, 'extract_student')


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


@pytest.fixture
def distiller_ckpt(tmp_path):
    """A bi-hint distiller checkpoint (student, adapters, optimizer)."""
    init_default_scope('bpfn')
    torch.manual_seed(0)
    teacher_path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=MODELS.build(TEACHER).state_dict()),
               teacher_path)
    distiller = MODELS.build(
        dict(type='SceneFlowDistiller', student=STUDENT, teacher=TEACHER,
             teacher_ckpt=str(teacher_path),
             distill_losses=[
                 dict(type='BiHintLoss', student=CROSS2, teacher=CROSS2,
                      adapter=dict(type='ConvAdapter'), loss_weight=0.3)
             ]))
    # Non-default values, so a mix-up of tensors would show.
    with torch.no_grad():
        for p in distiller.parameters():
            p.add_(torch.randn_like(p))
    optimizer = torch.optim.Adam(distiller.parameters())
    path = tmp_path / 'epoch_3.pth'
    torch.save(
        dict(meta=dict(epoch=3, iter=12),
             state_dict=distiller.state_dict(),
             optimizer=optimizer.state_dict()), path)
    return str(path), distiller


def test_keys_and_values(tool, distiller_ckpt, tmp_path):
    src, distiller = distiller_ckpt
    dst = str(tmp_path / 'out' / 'student.pth')
    count = tool.extract_student(src, dst)
    out = torch.load(dst, weights_only=True)
    assert set(out) == {'meta', 'state_dict'}
    expected = distiller.student.state_dict()
    assert count == len(expected) == len(out['state_dict'])
    assert list(out['state_dict']) == list(expected)
    for key, value in expected.items():
        assert torch.equal(out['state_dict'][key], value), key
    assert not any(k.startswith(('student.', 'adapters.', 'teacher.'))
                   for k in out['state_dict'])
    assert out['meta'] == dict(epoch=3, iter=12,
                               extracted_from='epoch_3.pth')
    assert os.listdir(osp.dirname(dst)) == ['student.pth']


def test_loads_with_init_model(tool, distiller_ckpt, tmp_path):
    from bpfn.apis import init_model
    src, distiller = distiller_ckpt
    dst = str(tmp_path / 'student.pth')
    tool.extract_student(src, dst)
    model = init_model(Config(dict(model=STUDENT)), dst)
    assert not model.training
    for key, value in distiller.student.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    # The teacher's config does not fit the student's weights.
    with pytest.raises(CheckpointError, match='does not fit'):
        init_model(Config(dict(model=TEACHER)), dst)


def test_atomic_write(tool, distiller_ckpt, tmp_path, monkeypatch):
    src, _ = distiller_ckpt
    dst = tmp_path / 'student.pth'
    dst.write_bytes(b'previous file')

    def failing_save(obj, f, *args, **kwargs):
        with open(f, 'wb') as fh:
            fh.write(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(tool.torch, 'save', failing_save)
    with pytest.raises(OSError, match='disk full'):
        tool.extract_student(src, str(dst))
    # The old file is intact and no temporary file is left behind.
    assert dst.read_bytes() == b'previous file'
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['epoch_3.pth', 'student.pth', 'teacher.pth'])


def test_rejects_plain_checkpoint(tool, tmp_path):
    init_default_scope('bpfn')
    src = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=MODELS.build(STUDENT).state_dict()), src)
    dst = tmp_path / 'out.pth'
    with pytest.raises(CheckpointError, match="no 'student.' keys"):
        tool.extract_student(str(src), str(dst))
    assert not dst.exists()


def test_command_line(distiller_ckpt, tmp_path):
    src, distiller = distiller_ckpt
    dst = tmp_path / 'cli.pth'
    proc = subprocess.run(
        [sys.executable, SCRIPT, src, str(dst)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    count = len(distiller.student.state_dict())
    assert f'wrote {count} student tensors to {dst}' in proc.stdout
    proc = subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path / 'missing.pth'),
         str(tmp_path / 'x.pth')], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1
    assert 'extract_student: checkpoint not found' in proc.stderr
