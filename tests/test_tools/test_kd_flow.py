"""End to end: demo teacher -> every ``configs/demo/kd_*.py`` -> test.

Each config runs through ``tools/train.py`` in a subprocess for one epoch of
two batches of 256 points (``--cfg-options`` shrink the demo configs); the
teacher is trained once per module the same way. Checks, per KD config:

* the teacher checkpoint file is unchanged, tensor by tensor (parameters
  and BatchNorm statistics), also after meta-KD, which updates the teacher
  in memory;
* AIL measured its teacher's training-set error range (logged, and kept in
  the checkpoint's meta);
* the KD checkpoint holds ``student.*`` and ``adapters.*`` keys only, its
  optimizer state covers no more tensors than the student and adapters
  have, and it loads with :func:`bpfn.apis.init_model` and the student's
  config;
* ``tools/test.py`` with the student's config prints the metrics table
  and scores the trained student, from the checkpoint and from the file
  ``extract_student.py`` makes of it (hint and AIL; the others share the
  same checkpoint layout).
"""
import glob
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

import pytest
import torch
from mmengine.config import Config

from bpfn.utils import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'demo')
TEACHER_CONFIG = osp.join(DEMO, 'bpfn_synthetic.py')
KD_CONFIGS = ['output', 'hint', 'bihint', 'ail', 'earlystop', 'metakd']
POINTS = 256
LEVEL_POINTS = '[128,64,32,16]'
TIMEOUT = 240


def _data_options(prefix: str, num_samples: int) -> List[str]:
    return [
        f'{prefix}.batch_size=2',
        f'{prefix}.dataset.num_samples={num_samples}',
        f'{prefix}.dataset.num_points={POINTS}',
        f'{prefix}.dataset.pipeline.0.num_points={POINTS}',
    ]


# One epoch of 2 iterations, validation on 2 scenes, test on 2 scenes.
DATA_OPTIONS = (
    _data_options('train_dataloader', 4) + _data_options('val_dataloader', 2)
    + _data_options('test_dataloader', 2) + [
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'param_scheduler=[]', 'default_hooks.logger.interval=1'
    ])
STUDENT_OPTIONS = [f'model.num_points={LEVEL_POINTS}', 'model.weightnet=4']


def _run(args: List[str], log: str) -> str:
    """Run a tool from the repository root, fail with its output."""
    # One thread each: the runs are tiny, and several threads per process
    # slow down badly when the machine is shared.
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args, cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=TIMEOUT)
    with open(log, 'w') as f:
        f.write(proc.stdout)
    assert proc.returncode == 0, (
        f'{" ".join(args[:2])} exited with {proc.returncode}:\n'
        + proc.stdout[-4000:])
    return proc.stdout


def _tensors(path: str) -> Dict[str, torch.Tensor]:
    return dict(load_checkpoint_file(path)['state_dict'])


def _sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        # Relative to the work dir (older pointers hold absolute paths).
        path = osp.join(work_dir, f.read().strip())
    assert osp.isfile(path), path
    return path


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    """The demo teacher after one tiny epoch: work dir, file, tensors."""
    work_dir = str(tmp_path_factory.mktemp('kd_flow') / 'teacher')
    _run([
        'tools/train.py', TEACHER_CONFIG, '--work-dir', work_dir,
        '--cfg-options', f'model.num_points={LEVEL_POINTS}', *DATA_OPTIONS
    ], work_dir + '.log')
    path = _last_checkpoint(work_dir)
    tensors = _tensors(path)
    # The check below must cover BatchNorm statistics as well.
    assert any(k.endswith('running_mean') for k in tensors)
    assert any(k.endswith('num_batches_tracked') and int(v) > 0
               for k, v in tensors.items())
    return dict(work_dir=work_dir, path=path, tensors=tensors,
                sha256=_sha256(path))


def _kd_options(name: str, teacher_dir: str) -> List[str]:
    options = [
        f'model.student.num_points={LEVEL_POINTS}',
        f'model.teacher.num_points={LEVEL_POINTS}',
        f'model.teacher_ckpt={teacher_dir}',
    ] + DATA_OPTIONS
    if name == 'metakd':
        options += _data_options('train_cfg.quiz_dataloader', 2)
    return options


def _student_config() -> Config:
    cfg = Config.fromfile(TEACHER_CONFIG)
    cfg.merge_from_dict(dict(model=dict(num_points=[128, 64, 32, 16],
                                        weightnet=4)))
    return cfg


@pytest.mark.parametrize('name', KD_CONFIGS)
def test_kd_config_end_to_end(name, teacher, tmp_path):
    work_dir = str(tmp_path / name)
    out = _run([
        'tools/train.py', osp.join(DEMO, f'kd_{name}.py'), '--work-dir',
        work_dir, '--cfg-options', *_kd_options(name, teacher['work_dir'])
    ], work_dir + '.log')
    assert 'Epoch(train) [1][2/2]' in out
    if name == 'metakd':
        assert 'loss_quiz' in out  # MetaKDTrainLoop fed the quiz batches
    if name == 'earlystop':
        assert 'kd_weight: 1.0000' in out  # KDWeightScheduleHook, epoch 1
    if name == 'ail':
        # AILErrorRangeHook measured the teacher's range before epoch 1.
        assert 'AIL error range of the teacher' in out
        assert 'a pass of the teacher over 4 training scenes' in out

    # The teacher checkpoint is bit-identical, tensor by tensor.
    assert _sha256(teacher['path']) == teacher['sha256']
    after = _tensors(teacher['path'])
    assert after.keys() == teacher['tensors'].keys()
    for key, value in teacher['tensors'].items():
        assert after[key].dtype == value.dtype, key
        assert torch.equal(after[key], value), key

    # The KD checkpoint: student and adapters only, plus (meta-KD only) the
    # taught teacher and its optimizer state.
    ckpt_path = _last_checkpoint(work_dir)
    ckpt = load_checkpoint_file(ckpt_path)
    if name == 'ail':
        stored = ckpt['meta']['ail_error_range']
        assert len(stored['e_min']) == len(stored['e_max']) == 4
    keys = list(ckpt['state_dict'])
    taught = [k for k in keys
              if k.startswith(('teacher.', 'teacher_optimizer.'))]
    assert bool(taught) == (name == 'metakd')
    if taught:
        assert sorted(k[len('teacher.'):] for k in taught
                      if k.startswith('teacher.')) == sorted(
                          teacher['tensors'])
        keys = [k for k in keys if k not in taught]
    assert keys and all(
        k.startswith(('student.', 'adapters.')) for k in keys), keys
    has_adapters = any(k.startswith('adapters.') for k in keys)
    assert has_adapters == (name == 'bihint')
    trainable = sum(1 for k in keys if not k.endswith(
        ('running_mean', 'running_var', 'num_batches_tracked')))
    num_state = len(ckpt['optimizer']['state'])
    assert 0 < num_state <= trainable

    # It loads with the student's config, to the same weights.
    from bpfn.apis import init_model
    model = init_model(_student_config(), ckpt_path)
    state = model.state_dict()
    student_keys = [k for k in keys if k.startswith('student.')]
    assert sorted(state) == sorted(k[len('student.'):]
                                   for k in student_keys)
    for key in student_keys:
        assert torch.equal(state[key[len('student.'):]],
                           ckpt['state_dict'][key]), key

    assert not glob.glob(osp.join(work_dir, '*.tmp'))
    if name not in ('hint', 'ail'):
        return

    # tools/test.py with the student's config: on the student extracted
    # by tools/model_converters/extract_student.py, then on the KD
    # checkpoint itself; both must evaluate the trained weights.
    extracted = str(tmp_path / 'student.pth')
    _run(['tools/model_converters/extract_student.py', ckpt_path,
          extracted], work_dir + '_extract.log')
    outputs = {}
    for label, path in (('extracted', extracted), ('kd', ckpt_path)):
        out = _run([
            'tools/test.py', TEACHER_CONFIG, path, '--work-dir',
            str(tmp_path / 'test'), '--out', str(tmp_path / f'{label}.json'),
            '--cfg-options', *STUDENT_OPTIONS, *DATA_OPTIONS
        ], f'{work_dir}_test_{label}.log')
        assert 'EPE3D' in out and 'ACC3DS' in out and 'Synthetic' in out
        assert 'zero-flow EPE3D' in out
        outputs[label] = out
    assert 'missing keys' not in outputs['extracted']
    with open(tmp_path / 'extracted.json') as f:
        epe = json.load(f)['metrics']['Synthetic']['EPE3D']
    with open(tmp_path / 'kd.json') as f:
        kd_epe = json.load(f)['metrics']['Synthetic']['EPE3D']
    assert 'missing keys' not in outputs['kd']
    assert kd_epe == pytest.approx(epe, rel=1e-6)
