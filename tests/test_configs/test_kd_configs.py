"""Every ``configs/kd/*.py``: parses, its student is the paper's model.

For each config: the student has exactly the parameters (names, shapes and
count) of its ``configs/bpfn/bpfn-*`` model, and the distiller builds with a
randomly initialised teacher saved to a temporary file, which runs the
distiller's dry-run pair check (channels, levels, adapters). The dry run
uses a smaller cloud: student and teacher get the same smaller
``num_points`` (parameter counts do not depend on it).
"""
import glob
import os.path as osp
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from bpfn.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KD_DIR = osp.join(REPO, 'configs', 'kd')

# Student model config and its parameter count.
STUDENTS = {
    'wn4': ('bpfn-wn4_ft3d.py', 2733852),
    'wn48': ('bpfn-wn48_ft3d.py', 3857356),
    'wn8': ('bpfn-wn8_ft3d.py', 4475436),
    'half': ('bpfn-half_ft3d.py', 2016892),
    'declinear': ('bpfn-declinear_ft3d.py', 5858194),
}
KD_STUDENTS = {
    'ail_wn4.py': 'wn4',
    'ail_wn48.py': 'wn48',
    'bihint_wn4.py': 'wn4',
    'bihint_wn48.py': 'wn48',
    'earlystop_wn8.py': 'wn8',
    'hint_declinear.py': 'declinear',
    'hint_wn4.py': 'wn4',
    'hint_wn48.py': 'wn48',
    'kd_half.py': 'half',
    'metakd_wn4.py': 'wn4',
}
TEACHER_PARAMS = 7958604
DRY_RUN_LEVELS = [256, 128, 64, 32]


def _shapes(model: torch.nn.Module) -> Dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_kd_config_is_listed():
    names = sorted(osp.basename(p) for p in glob.glob(
        osp.join(KD_DIR, '*.py')))
    assert names == sorted(KD_STUDENTS)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory) -> str:
    """A randomly initialised BPF teacher saved as a bpfn checkpoint."""
    init_default_scope('bpfn')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'bpfn',
                                   'bpfn_ft3d.py'))
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model)
    assert _num_params(teacher) == TEACHER_PARAMS
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save(dict(meta=dict(epoch=0), state_dict=teacher.state_dict()),
               path)
    return str(path)


@pytest.mark.parametrize('name', sorted(KD_STUDENTS))
def test_kd_config(name, teacher_ckpt):
    init_default_scope('bpfn')
    cfg = Config.fromfile(osp.join(KD_DIR, name))
    assert cfg.model.type in ('SceneFlowDistiller', 'MetaSceneFlowDistiller')
    assert cfg.model.teacher.type == 'BiPointFlowNet'
    if cfg.model.type == 'MetaSceneFlowDistiller':
        assert cfg.train_cfg.type == 'MetaKDTrainLoop'
        assert 'quiz_dataloader' in cfg.train_cfg

    # The student is exactly its configs/bpfn model.
    student_file, expected = STUDENTS[KD_STUDENTS[name]]
    reference_cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'bpfn', student_file))
    reference = MODELS.build(reference_cfg.model)
    student = MODELS.build(cfg.model.student)
    assert _num_params(reference) == expected
    assert _num_params(student) == expected
    assert _shapes(student) == _shapes(reference)

    # The distiller builds (dry-run pair check) on a smaller cloud.
    cfg.merge_from_dict({
        'model.teacher_ckpt': teacher_ckpt,
        'model.student.num_points': DRY_RUN_LEVELS,
        'model.teacher.num_points': DRY_RUN_LEVELS,
    })
    distiller = MODELS.build(cfg.model)
    # Only the student and the adapters are trained by the runner and saved
    # (meta-KD also saves the teacher it teaches).
    adapters = _num_params(distiller.adapters)
    assert _num_params(distiller) == expected + adapters
    saved = ('student.', 'adapters.') + (
        ('teacher.', ) if cfg.model.type == 'MetaSceneFlowDistiller' else ())
    assert all(k.startswith(saved) for k in distiller.state_dict())
    uses_adapter = any('adapter' in entry
                       for entry in cfg.model.distill_losses)
    assert (adapters > 0) == uses_adapter
    # The teacher holds the saved weights.
    saved = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    for key, value in distiller.teacher.state_dict().items():
        assert torch.equal(value, saved[key]), key
