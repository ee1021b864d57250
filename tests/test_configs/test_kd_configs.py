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
    'unlabeled_kitti_raw_wn4.py': 'wn4',
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


def _write_velodyne_scan(path, seed: int) -> None:
    """A KITTI raw Velodyne scan: float32 (x forward, y left, z up, r)
    records; a road 1.73 m below the sensor, objects above it in front
    of and behind the car."""
    import numpy as np
    rng = np.random.default_rng(seed)
    road = np.c_[rng.uniform(-30, 30, 6000), rng.uniform(-15, 15, 6000),
                 np.full(6000, -1.73)]
    front = np.c_[rng.uniform(2, 30, 10000), rng.uniform(-10, 10, 10000),
                  rng.uniform(-1.2, 1.5, 10000)]
    behind = np.c_[rng.uniform(-30, -2, 3000), rng.uniform(-10, 10, 3000),
                   rng.uniform(-1.2, 1.5, 3000)]
    points = np.concatenate([road, front, behind])
    scan = np.c_[points, rng.uniform(0, 1, len(points))].astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    scan.tofile(str(path))


def test_unlabeled_kitti_raw_recipe(tmp_path):
    """configs/kd/unlabeled_kitti_raw_wn4.py mixes labelled FT3D with
    unlabelled KITTI raw pairs, 4 + 4 per batch, tested on KITTI; its KITTI
    raw part reads a drive in the raw layout into clouds in front of the
    car, the road removed, without ground truth."""
    init_default_scope('bpfn')
    cfg = Config.fromfile(osp.join(KD_DIR, 'unlabeled_kitti_raw_wn4.py'))
    loader = cfg.train_dataloader
    assert loader.batch_size == 8
    assert loader.batch_sampler == dict(type='LabeledShareBatchSampler',
                                        labeled_per_batch=4)
    ft3d, raw = loader.dataset.datasets
    assert loader.dataset.type == 'ConcatDataset'
    assert ft3d.type == 'FlyingThings3D' and ft3d.every_k == 4
    assert raw.type == 'UnlabeledScans' and raw.axes == 'kitti_velodyne'
    assert [t.type for t in raw.pipeline] == [
        'LoadScanPair', 'GroundRemoval', 'DepthFilter',
        'RandomSampleFlowPoints', 'PackFlowInputs']
    assert raw.pipeline[1].threshold == -1.4
    assert (raw.pipeline[2].max_depth, raw.pipeline[2].min_depth) == (35.0,
                                                                      0.0)
    assert raw.pipeline[3].num_points == 8192
    assert cfg.model.distill_losses[0].type == 'OutputKDLoss'
    assert cfg.model.self_supervised_on == 'unlabeled'
    assert cfg.val_dataloader.dataset.type == 'FlyingThings3D'
    tested = [d.type for d in cfg.test_dataloader.dataset.datasets]
    assert tested == ['FlyingThings3D', 'KITTI']
    # The KITTI raw part on a small drive of three scans.
    from bpfn.registry import DATASETS
    drive = tmp_path / '2011_09_28' / '2011_09_28_drive_0001_sync'
    for i in range(3):
        _write_velodyne_scan(
            drive / 'velodyne_points' / 'data' / f'{i:010d}.bin', i)
    dataset = DATASETS.build(dict(raw, data_root=str(tmp_path)))
    assert len(dataset) == 2 and not dataset.labeled_mask().any()
    sample = dataset[0]
    assert 'gt_flow' not in sample['data_samples']
    for key in ('pc1', 'pc2'):
        pc = sample['inputs'][key]
        assert pc.shape == (8192, 3)
        # Processed axes: x left, y up, z forward; the road (y = -1.73) is
        # removed, only points in front of the car (z > 0) are kept.
        assert (pc[:, 1] >= -1.4).all() and (pc[:, 1] <= 1.5).all()
        assert (pc[:, 2] > 0).all() and (pc[:, 2] < 35).all()
        assert (pc[:, 2] >= 2 - 1e-4).all()  # the objects in front

    # The whole training loader on 16 FT3D training scenes (every 4th: 4)
    # and the drive: one batch of 4 labelled FT3D and 4 KITTI raw samples.
    import numpy as np

    from bpfn.engine import BPFNRunner
    rng = np.random.default_rng(0)
    for i in range(16):
        folder = tmp_path / 'ft3d' / 'train' / f'{i:07d}'
        folder.mkdir(parents=True)
        pc1 = np.c_[rng.uniform(-10, 10, 256), rng.uniform(-1, 2, 256),
                    -rng.uniform(5, 30, 256)].astype(np.float32)
        np.save(folder / 'pc1.npy', pc1)
        np.save(folder / 'pc2.npy', pc1 + np.float32(0.1))
    loader = dict(cfg.train_dataloader.to_dict(), num_workers=0,
                  persistent_workers=False)
    loader['dataset']['datasets'][0]['data_root'] = str(tmp_path / 'ft3d')
    loader['dataset']['datasets'][1]['data_root'] = str(tmp_path)
    batches = list(BPFNRunner.build_dataloader(loader, seed=0))
    assert len(batches) == 1
    samples = batches[0]['data_samples']
    assert ['gt_flow' in ds for ds in samples] == [True] * 4 + [False] * 4
    assert [ds['dataset'] for ds in samples] == ['FT3D'] * 4 + [
        'UnlabeledScans'] * 4
    assert batches[0]['inputs']['pc1'].shape == (8, 8192, 3)


def test_demo_kd_unlabeled_trains_on_mixed_batches(tmp_path):
    """configs/demo/kd_unlabeled.py (the synthetic twin of the KITTI raw
    config) for two iterations: every batch is half labelled (logged as
    labeled_frac 0.5), and the GT, output-KD and self-supervised terms are
    all trained."""
    from bpfn.engine import BPFNRunner
    init_default_scope('bpfn')
    cfg = Config.fromfile(osp.join(DEMO_DIR, 'kd_unlabeled.py'))
    assert cfg.train_dataloader.dataset.labeled_fraction == 0.5
    assert cfg.model.teacher_ckpt == 'resources/bpfn_synthetic_teacher.pth'
    small = dict(num_samples=8, num_points=256)
    levels = [128, 64, 32, 16]
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'work'),
        'model.teacher_ckpt': DEMO_TEACHER,
        'model.student.num_points': levels,
        'model.teacher.num_points': levels,
        'train_dataloader.dataset': small,
        'train_dataloader.dataset.pipeline.0.num_points': 256,
        'val_dataloader.dataset': dict(small, num_samples=2),
        'val_dataloader.dataset.pipeline.0.num_points': 256,
        'train_cfg.max_epochs': 1, 'param_scheduler': [],
        'default_hooks.logger.interval': 1,
    })
    runner = BPFNRunner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub

    def logged(key):
        return hub.get_scalar(f'train/{key}').data[0].tolist()

    # 4 labelled and 4 unlabelled scenes, 2 + 2 per batch: 2 iterations.
    assert logged('labeled_frac') == [0.5, 0.5]
    for key in ('loss_gt', 'loss_outputkd0', 'loss_chamfer',
                'loss_smoothness', 'loss_laplacian'):
        values = logged(key)
        assert len(values) == 2 and all(v > 0 for v in values), (key, values)
