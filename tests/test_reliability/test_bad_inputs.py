"""Bad-input catalogue: every bad file, array, config or checkpoint fails
early with a message that names the culprit and what was expected."""
import os
import os.path as osp
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from bpfn.apis.inference import inference_flow, init_model
from bpfn.datasets import KITTI, FlyingThings3D, load_cloud, validate_cloud
from bpfn.registry import MODELS
from bpfn.utils import CheckpointError, load_model_weights
from bpfn_test_utils import REPO, load_script, write_tiny_config

#: A teacher-shaped tiny BiPointFlowNet (first level samples 128 points).
TINY: Dict = dict(
    type='BiPointFlowNet',
    num_points=[128, 64, 32, 16],
    feat_neighbors=8,
    flow_neighbors=8,
    estimator_neighbors=8,
    width_mult=0.25,
    estimator_channels=[16, 16],
    estimator_mlp=[16, 16])
#: The same network with the WN4 student's weight nets.
TINY_WN4: Dict = dict(TINY, weightnet=4)
LOAD = [dict(type='LoadSceneFlowNpy')]


def _build(cfg: Dict) -> torch.nn.Module:
    init_default_scope('bpfn')
    return MODELS.build(dict(cfg))


def _cloud(num: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-5, 5, size=(num, 3)).astype(np.float32)


def _write_sample(folder: Path, pc1=None, pc2=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if pc1 is not None:
        np.save(folder / 'pc1.npy', pc1)
    if pc2 is not None:
        np.save(folder / 'pc2.npy', pc2)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory) -> str:
    """A checkpoint of the tiny teacher (plain state_dict)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save(dict(state_dict=_build(TINY).state_dict()), path)
    return str(path)


def _distiller(teacher_ckpt, teacher_tap: str = 'cross2.embedding_12',
               student_tap: str = 'cross2.embedding_12') -> Dict:
    return dict(
        type='SceneFlowDistiller',
        student=TINY_WN4,
        teacher=TINY,
        teacher_ckpt=teacher_ckpt,
        distill_losses=[
            dict(type='HintLoss', student=student_tap, teacher=teacher_tap)
        ])


# 1. Missing data root ------------------------------------------------------
@pytest.mark.parametrize('dataset_cls, layout', [
    (FlyingThings3D, '<data_root>/{train,val}/<sample>/pc1.npy, pc2.npy'),
    (KITTI, '<data_root>/<scene>/pc1.npy, pc2.npy'),
])
def test_missing_data_root_names_folder_and_layout(tmp_path, dataset_cls,
                                                   layout):
    root = str(tmp_path / 'not_converted')
    with pytest.raises(FileNotFoundError) as info:
        dataset_cls(data_root=root)
    msg = str(info.value)
    assert f"{dataset_cls.__name__}: data_root {root!r} does not exist" in msg
    assert f'expected the layout {layout}' in msg


def test_missing_split_folder_is_named(tmp_path):
    (tmp_path / 'train').mkdir()
    with pytest.raises(FileNotFoundError) as info:
        FlyingThings3D(data_root=str(tmp_path), split='val')
    assert f"split folder {str(tmp_path / 'val')!r} does not exist" in str(
        info.value)


# 2. Missing pc1.npy / pc2.npy in a sample folder ---------------------------
def test_kitti_scene_without_pc1_names_the_file(tmp_path):
    _write_sample(tmp_path / '000000', pc2=_cloud())
    dataset = KITTI(data_root=str(tmp_path), scenes=['000000'],
                    pipeline=LOAD, test_mode=True)
    with pytest.raises(FileNotFoundError) as info:
        dataset[0]
    path = str(tmp_path / '000000' / 'pc1.npy')
    assert str(info.value) == (
        f'{path}: point cloud file not found; expected an (N, 3) float '
        'array saved with numpy.save')


def test_ft3d_sample_without_pc2_names_the_file(tmp_path):
    _write_sample(tmp_path / 'train' / '0000000', pc1=_cloud())
    dataset = FlyingThings3D(data_root=str(tmp_path), pipeline=LOAD)
    assert len(dataset) == 1
    with pytest.raises(FileNotFoundError,
                       match=re.escape(
                           str(tmp_path / 'train' / '0000000' / 'pc2.npy')
                           + ': point cloud file not found')):
        dataset[0]


def test_ft3d_split_without_any_pc1_is_reported(tmp_path):
    _write_sample(tmp_path / 'train' / '0000000', pc2=_cloud())
    with pytest.raises(FileNotFoundError) as info:
        FlyingThings3D(data_root=str(tmp_path))
    assert (f"FlyingThings3D: no sample folder with pc1.npy found in "
            f"{str(tmp_path / 'train')!r}") in str(info.value)


def test_kitti_missing_scene_folder_is_counted(tmp_path):
    _write_sample(tmp_path / '000000', _cloud(), _cloud())
    with pytest.raises(FileNotFoundError) as info:
        KITTI(data_root=str(tmp_path), scenes=['000000', '000001'])
    assert 'KITTI: 1 of 2 scene folder(s) missing' in str(info.value)
    assert str(tmp_path / '000001') in str(info.value)


# 3, 5, 6, 7. Empty, non-finite, wrongly shaped and wrongly typed files -----
def _bad_nan() -> np.ndarray:
    cloud = _cloud(300)
    cloud[7, 1] = np.nan
    cloud[9, 2] = np.inf
    return cloud


BAD_CLOUDS = {
    'empty': (lambda: np.zeros((0, 3), np.float32),
              'the point cloud is empty (0 points); expected at least one '
              'point of shape (N, 3)'),
    'nan': (_bad_nan, '2 point(s) contain NaN or inf (first at row 7); '
            'expected finite coordinates'),
    'n4': (lambda: np.zeros((300, 4), np.float32),
           'expected an array of shape (N, 3), got shape (300, 4)'),
    'flat': (lambda: np.zeros(300, np.float32),
             'expected an array of shape (N, 3), got shape (300,)'),
    'int': (lambda: np.zeros((300, 3), np.int64),
            'expected a float array (float32 or float64), got dtype int64'),
}


@pytest.mark.parametrize('case', sorted(BAD_CLOUDS))
def test_bad_cloud_file_is_named_with_the_expectation(tmp_path, case):
    make, expected = BAD_CLOUDS[case]
    folder = tmp_path / 'train' / 'sample'
    _write_sample(folder, pc1=_cloud(300), pc2=make())
    dataset = FlyingThings3D(data_root=str(tmp_path), pipeline=LOAD)
    with pytest.raises(ValueError) as info:
        dataset[0]
    assert str(info.value) == f"{folder / 'pc2.npy'}: {expected}"


def test_object_array_file_is_refused_without_unpickling(tmp_path):
    path = tmp_path / 'pc1.npy'
    np.save(path, np.array([[1, 2, 3]] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError) as info:
        load_cloud(str(path))
    assert str(info.value).startswith(
        f'{path}: cannot be read as a .npy array of shape (N, 3) (Object '
        'arrays cannot be loaded when allow_pickle=False')


def test_validate_cloud_names_the_source_for_non_arrays():
    with pytest.raises(ValueError, match=re.escape(
            'sample.pc1: expected a numpy array of shape (N, 3), got list')):
        validate_cloud([[0.0, 0.0, 1.0]], 'sample.pc1')
    with pytest.raises(ValueError, match=re.escape(
            'sample.pc1: expected a float array (float32 or float64), got '
            'dtype object')):
        validate_cloud(np.zeros((2, 3), dtype=object), 'sample.pc1')
    good = validate_cloud(np.ones((2, 3), np.float64), 'sample.pc1')
    assert good.dtype == np.float32 and good.shape == (2, 3)


# 4. Fewer points than the first level ------------------------------------
def test_too_few_points_for_the_first_level():
    model = _build(TINY).eval()
    assert model.min_input_points == 128
    pc = torch.rand(1, 100, 3)
    expected = ('BiPointFlowNet: pc1 has 100 points but level 1 samples 128 '
                '(and at least 128 are needed); sample more points or lower '
                'model.num_points')
    with pytest.raises(ValueError) as info:
        model.check_inputs(pc, torch.rand(1, 300, 3))
    assert str(info.value) == expected
    with pytest.raises(ValueError) as info:
        inference_flow(model, pc[0].numpy(), torch.rand(300, 3).numpy())
    assert str(info.value) == expected
    with pytest.raises(ValueError, match='BiPointFlowNet: pc2 has 127 points'):
        inference_flow(model, torch.rand(300, 3), torch.rand(127, 3))
    # 128 points is enough: the input, then levels 1-3.
    flows = inference_flow(model, torch.rand(128, 3), torch.rand(128, 3))
    assert [tuple(f.shape) for f in flows['flows']] == [(1, 128, 3),
                                                        (1, 128, 3),
                                                        (1, 64, 3),
                                                        (1, 32, 3)]


# 6, 7, 17. Bad arrays given to inference_flow ------------------------------
@pytest.mark.parametrize('pc1, error, expected', [
    (np.zeros((300, 4), np.float32), ValueError,
     'pc1 must have shape (N, 3) or (B, N, 3), got (300, 4)'),
    (np.zeros(300, np.float32), ValueError,
     'pc1 must have shape (N, 3) or (B, N, 3), got (300,)'),
    (np.zeros((300, 3), np.int32), TypeError,
     'pc1 must hold floating point coordinates, got torch.int32'),
    (np.zeros((300, 3), dtype=object), TypeError,
     'pc1 must hold floating point coordinates, got dtype object'),
    (np.full((300, 3), 'a'), TypeError,
     'pc1 must hold floating point coordinates, got dtype <U1'),
])
def test_inference_flow_rejects_bad_arrays(pc1, error, expected):
    model = _build(TINY).eval()
    with pytest.raises(error) as info:
        inference_flow(model, pc1, _cloud(300))
    assert str(info.value) == expected


@pytest.mark.parametrize('name', ['pc1', 'pc2', 'feat1', 'feat2'])
def test_inference_flow_rejects_non_finite_inputs(name):
    model = _build(TINY).eval()
    arrays = {k: torch.from_numpy(_cloud(256, seed=i))
              for i, k in enumerate(('pc1', 'pc2', 'feat1', 'feat2'))}
    arrays[name][5, 0] = float('nan') if name.startswith('pc') else float(
        'inf')
    with pytest.raises(ValueError) as info:
        inference_flow(model, **arrays)
    assert str(info.value) == f'{name} holds NaN or infinite values'


# 8. KITTI scene missing from the calibration table ---------------------------
def test_kitti_scene_without_calibration(tmp_path):
    data = tmp_path / 'kitti'
    _write_sample(data / '000000', _cloud(), _cloud())
    _write_sample(data / 'custom_scene', _cloud(), _cloud())
    with pytest.raises(ValueError) as info:
        KITTI(data_root=str(data), scenes=['000000', 'custom_scene'])
    assert str(info.value).startswith(
        "KITTI: scene 'custom_scene' has no P_rect_02 entry in the "
        'calibration table ')
    assert str(info.value).endswith('kitti_sf2015_p_rect_02.csv')
    # A user table is named too.
    table = tmp_path / 'calib.csv'
    header = 'scene,' + ','.join(f'p{r}{c}' for r in range(3)
                                 for c in range(4))
    table.write_text(header + '\n000000,' + ','.join(['1.0'] * 12) + '\n')
    with pytest.raises(ValueError) as info:
        KITTI(data_root=str(data), scenes=['000000', 'custom_scene'],
              calib_file=str(table))
    assert str(info.value) == (
        "KITTI: scene 'custom_scene' has no P_rect_02 entry in the "
        f'calibration table {table}')
    ok = KITTI(data_root=str(data), scenes=['000000'], calib_file=str(table))
    assert ok.get_data_info(0)['camera']['P_rect_02'] == [[1.0] * 4] * 3


# 9. Unknown config key ---------------------------------------------------
def test_unknown_model_key_names_key_and_type():
    init_default_scope('bpfn')
    # What MMEngine itself raises: the key and the class, no config field.
    with pytest.raises(TypeError, match=re.escape(
            "BiPointFlowNet.__init__() got an unexpected keyword argument "
            "'weightnett'")):
        MODELS.build(dict(TINY, weightnett=8))
    cfg = Config(dict(default_scope='bpfn', model=dict(TINY, weightnett=8)))
    with pytest.raises(TypeError) as info:
        init_model(cfg)
    msg = str(info.value)
    assert msg.startswith("model: unknown key 'weightnett' for BiPointFlowNet "
                          "(did you mean 'weightnet'?); valid keys: "
                          'num_points, feat_neighbors, flow_neighbors')
    assert 'width_mult' in msg and 'data_preprocessor' in msg


def test_unknown_student_key_through_init_model(teacher_ckpt):
    model = dict(_distiller(teacher_ckpt), student=dict(TINY_WN4,
                                                        widthmult=0.5))
    cfg = Config(dict(default_scope='bpfn', model=model))
    with pytest.raises(TypeError, match=re.escape(
            "model.student: unknown key 'widthmult' for BiPointFlowNet (did "
            "you mean 'width_mult'?)")):
        init_model(cfg)


# 10. Unregistered type ---------------------------------------------------
def test_unregistered_type_names_type_and_registry():
    cfg = Config(dict(default_scope='bpfn',
                      model=dict(TINY, type='BiPointFlowNett')))
    with pytest.raises(KeyError) as info:
        init_model(cfg)
    assert 'BiPointFlowNett is not in the bpfn::model registry' in str(
        info.value)


# 11. Distillation pair naming a missing module ---------------------------
@pytest.mark.parametrize('role', ['teacher', 'student'])
def test_distiller_pair_with_missing_module_lists_valid_names(
        teacher_ckpt, role):
    taps = {f'{role}_tap': 'cross2.embeding_12'}
    with pytest.raises(KeyError) as info:
        _build(_distiller(teacher_ckpt, **taps))
    msg = info.value.args[0]
    assert msg.startswith(
        f"model.distill_losses[0].{role}: no module named "
        f"'cross2.embeding_12' in the {role} (BiPointFlowNet) (did you mean "
        "['cross2.embedding_12'")
    valid = msg.split('Valid names: ')[1].split(', ')
    assert {'cross2.embedding_12', 'cross2.embedding_21', 'level1',
            'flow0'} <= set(valid)
    assert valid == sorted(valid)


# 12. Teacher checkpoint missing ------------------------------------------
def test_missing_teacher_checkpoint_names_the_field(tmp_path):
    missing = str(tmp_path / 'teacher.pth')
    with pytest.raises(FileNotFoundError) as info:
        _build(_distiller(missing))
    assert str(info.value) == (
        f'model.teacher_ckpt: teacher checkpoint {missing!r} not found; '
        'train the teacher or download its weights, then set '
        'model.teacher_ckpt')
    with pytest.raises(ValueError, match=re.escape(
            'model.teacher_ckpt is required')):
        _build(_distiller(None))
    with pytest.raises(FileNotFoundError, match=re.escape(
            f'model.teacher_ckpt={str(tmp_path)!r} is a directory without a '
            'last_checkpoint file')):
        _build(_distiller(str(tmp_path)))


# 13. Checkpoint of another architecture ----------------------------------
WN4_MISMATCH = ('flow0.pointconv_list.0.weightnet.mlp_convs.2.weight: '
                'checkpoint (4, 8, 1, 1) vs model (16, 8, 1, 1)')


def test_wn4_checkpoint_into_teacher_lists_shapes(tmp_path, teacher_ckpt):
    path = str(tmp_path / 'wn4.pth')
    torch.save(dict(state_dict=_build(TINY_WN4).state_dict()), path)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(_build(TINY), path)
    lines = str(info.value).splitlines()
    assert lines[0] == (f'checkpoint {path} does not fit BiPointFlowNet '
                        '(wrong architecture or config?)')
    assert lines[1].startswith('  shape mismatches (84): ')
    assert WN4_MISMATCH in lines[1]
    assert lines[1].endswith('... and 64 more')
    # Through the distiller the config field is named first.
    with pytest.raises(CheckpointError) as info:
        _build(_distiller(path))
    assert str(info.value).startswith(
        f'model.teacher_ckpt: checkpoint {path} does not fit BiPointFlowNet')
    assert WN4_MISMATCH in str(info.value)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    state = _build(TINY).state_dict()
    state.pop('level0.composed_module.0.weight')
    state['head.extra'] = torch.zeros(1)
    path = str(tmp_path / 'edited.pth')
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(_build(TINY), path)
    lines = str(info.value).splitlines()
    assert lines[1:] == ['  missing keys (1): level0.composed_module.0.weight',
                         '  unexpected keys (1): head.extra']


# 14. Truncated checkpoint ------------------------------------------------
@pytest.mark.parametrize('keep', [0.5, 0.0])
def test_truncated_checkpoint_is_reported_by_name(tmp_path, teacher_ckpt,
                                                  keep):
    data = Path(teacher_ckpt).read_bytes()
    path = tmp_path / 'epoch_3.pth'
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=re.escape(
            f'checkpoint {path} is truncated or corrupt')):
        load_model_weights(_build(TINY), str(path))
    cfg = Config(dict(default_scope='bpfn', model=TINY))
    with pytest.raises(CheckpointError, match=re.escape(
            f'checkpoint {path} is truncated or corrupt')):
        init_model(cfg, str(path))
    with pytest.raises(CheckpointError, match=re.escape(
            f'model.teacher_ckpt: checkpoint {path} is truncated or '
            'corrupt')):
        _build(_distiller(str(path)))


# 15. tools/train.py --resume without a checkpoint ------------------------
def _train_main():
    return load_script(osp.join(REPO, 'tools', 'train.py'), 'bpfn_train_tool').main


def test_resume_in_empty_work_dir_names_the_dir(tmp_path):
    config = write_tiny_config(tmp_path)
    work_dir = tmp_path / 'empty'
    work_dir.mkdir()
    with pytest.raises(SystemExit) as info:
        _train_main()([config, '--work-dir', str(work_dir), '--resume'])
    assert str(info.value.code) == (
        f'error: --resume: the work dir {work_dir} is empty or missing, '
        'there is no checkpoint to resume from; train without --resume '
        'first, or pass --resume PATH')
    assert os.listdir(work_dir) == []


def test_resume_with_only_a_truncated_checkpoint_subprocess(
        tmp_path, teacher_ckpt):
    config = write_tiny_config(tmp_path)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    data = Path(teacher_ckpt).read_bytes()
    (work_dir / 'epoch_1.pth').write_bytes(data[:len(data) // 3])
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
         '--work-dir', str(work_dir), '--resume'],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert (f'error: work dir {work_dir} holds no complete checkpoint; '
            'skipped epoch_1.pth (truncated or corrupt)') in proc.stderr
    assert sorted(os.listdir(work_dir)) == ['epoch_1.pth']
