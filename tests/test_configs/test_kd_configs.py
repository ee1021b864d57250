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
    'catchup_wn8.py': 'wn8',
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
        # MetaDistil's quiz set is held out: every 4th scene from the third
        # shares no scene with the every-4th training subset.
        train = cfg.train_dataloader.dataset
        quiz = cfg.train_cfg.quiz_dataloader.dataset
        assert quiz.split == train.split == 'train'
        assert quiz.every_k == train.every_k == 4
        assert quiz.get('offset', 0) != train.get('offset', 0)
        kept = {name: set(range(cfg_.get('offset', 0), 1000, cfg_.every_k))
                for name, cfg_ in (('train', train), ('quiz', quiz))}
        assert not kept['train'] & kept['quiz']
        # Several processes: the wrapper that runs the meta step.
        assert cfg.model_wrapper_cfg.type == 'bpfn.MetaDistillerDDP'
    hooks = [h.type for h in cfg.get('custom_hooks', [])]
    uses_ail = any(e.type == 'AILLoss' for e in cfg.model.distill_losses)
    assert ('AILErrorRangeHook' in hooks) == uses_ail

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


DEMO_DIR = osp.join(REPO, 'configs', 'demo')
DEMO_TEACHER = osp.join(REPO, 'resources', 'bpfn_synthetic_teacher.pth')


@pytest.mark.parametrize('name,term', [('kd_hint.py', 'loss_hint0'),
                                       ('kd_bihint.py', 'loss_bihint0')])
def test_demo_kd_term_is_commensurate_with_gt(name, term):
    """At its configured weight the KD term of the first training step is
    between 1/20 and 20 times the GT term (the committed demo teacher, the
    first batch of the seeded training data, the student as initialised)."""
    from mmengine.runner import set_random_seed

    from bpfn.engine import BPFNRunner
    init_default_scope('bpfn')
    cfg = Config.fromfile(osp.join(DEMO_DIR, name))
    assert cfg.model.teacher_ckpt == 'resources/bpfn_synthetic_teacher.pth'
    cfg.model.teacher_ckpt = DEMO_TEACHER
    seed = cfg.randomness.seed
    set_random_seed(seed)
    model = MODELS.build(cfg.model).train()
    loader = BPFNRunner.build_dataloader(cfg.train_dataloader, seed=seed)
    batch = model.data_preprocessor(next(iter(loader)), True)
    losses = model(**batch, mode='loss')
    ratio = losses[term].item() / losses['loss_gt'].item()
    print(f'{name}: first step {term} {losses[term].item():.2f}, loss_gt '
          f'{losses["loss_gt"].item():.2f}, ratio {ratio:.3f}')
    assert 1 / 20 <= ratio <= 20, (name, losses)
