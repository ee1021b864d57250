"""Round trips of tools/create_data.py on tiny raw files.

The converters live in bpfn/datasets/converters/; these tests run the tool's
subcommands and read the results back with the datasets.
"""
import importlib.util
import json
import os
import os.path as osp
from pathlib import Path

import numpy as np
import pytest

from bpfn.datasets import (KITTI, FlyingThings3D, MinimizedFlyingThings3D,
                           load_kitti_calibration, select_minimized_subset)
from bpfn.evaluation import project_to_image
from ..tiny_data import make_ft3d
from .raw_writers import write_flo, write_pfm, write_png

TOOL = Path(__file__).resolve().parents[3] / 'tools' / 'create_data.py'
LOAD = [dict(type='LoadSceneFlowNpy')]
CX, CY = 479.5, 269.5


@pytest.fixture(scope='module')
def create_data():
    spec = importlib.util.spec_from_file_location('create_data', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def write_ft3d_raw(root, split, name, flow_ext='.flo'):
    """A 4x6 frame: disparity 50 (one far pixel), change -1, flow (2, -1),
    one disparity-occluded and one flow-occluded pixel."""
    height, width = 4, 6
    base = osp.join(root, split)
    dirs = dict(
        disparity='disparity/left',
        disparity_change='disparity_change/left/into_future',
        flow='flow/left/into_future',
        disparity_occlusions='disparity_occlusions/left',
        flow_occlusions='flow_occlusions/left/into_future')
    for d in dirs.values():
        os.makedirs(osp.join(base, d), exist_ok=True)
    disp = np.full((height, width), 50.0, np.float32)
    disp[0, 0] = 20.0  # depth 52.5 m: dropped by the 35 m limit
    write_pfm(osp.join(base, dirs['disparity'], name + '.pfm'), disp)
    write_pfm(
        osp.join(base, dirs['disparity_change'], name + '.pfm'),
        np.full((height, width), -1.0, np.float32))
    flow = np.zeros((height, width, 3), np.float32)
    flow[..., 0], flow[..., 1] = 2.0, -1.0
    if flow_ext == '.flo':
        write_flo(osp.join(base, dirs['flow'], name + '.flo'), flow[..., :2])
    else:
        write_pfm(osp.join(base, dirs['flow'], name + '.pfm'), flow)
    occ_disp = np.zeros((height, width), np.uint8)
    occ_disp[1, 1] = 255
    occ_flow = np.zeros((height, width), np.uint8)
    occ_flow[2, 3] = 255
    write_png(
        osp.join(base, dirs['disparity_occlusions'], name + '.png'), occ_disp)
    write_png(osp.join(base, dirs['flow_occlusions'], name + '.png'), occ_flow)
    valid = np.ones((height, width), bool)
    valid[0, 0] = valid[1, 1] = valid[2, 3] = False
    return valid


def test_ft3d_round_trip(tmp_path, create_data):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    valid = write_ft3d_raw(raw, 'train', '0000000')
    write_ft3d_raw(raw, 'val', '0000007', flow_ext='.pfm')
    assert create_data(['ft3d', raw, out]) == 0
    for split, name in (('train', '0000000'), ('val', '0000007')):
        dataset = FlyingThings3D(out, split=split, pipeline=LOAD)
        item = dataset[0]
        assert item['sample_name'] == name
        v, u = np.nonzero(valid)
        assert item['pc1'].shape == (21, 3) and item['pc1'].dtype == np.float32
        # Loaded: ((u - cx) / d, (v - cy) / d, 1050 / d), d = 50 then 49.
        expected1 = np.stack(
            [(u - CX) / 50,
             (v - CY) / 50, np.full(21, 21.0)], 1)
        expected2 = np.stack([(u + 2 - CX) / 49, (v - 1 - CY) / 49,
                              np.full(21, 1050 / 49)], 1)
        np.testing.assert_allclose(item['pc1'], expected1, rtol=1e-5)
        np.testing.assert_allclose(item['pc2'], expected2, rtol=1e-5)
        np.testing.assert_allclose(
            item['flow'], expected2 - expected1, rtol=1e-4, atol=1e-5)
        # The FT3D camera (f = -1050) maps the loaded cloud to the image
        # turned by 180 degrees: (2 cx - u, 2 cy - v).
        np.testing.assert_allclose(
            project_to_image(item['pc1']),
            np.stack([2 * CX - u, 2 * CY - v], 1),
            atol=1e-3)
    leftovers = [
        f for _, _, files in os.walk(out) for f in files
        if not f.endswith('.npy')
    ]
    assert leftovers == []


def test_ft3d_missing_raw_folder(tmp_path, create_data):
    with pytest.raises(FileNotFoundError, match='raw FT3D folder not found'):
        create_data(['ft3d', str(tmp_path), str(tmp_path / 'out')])


def write_kitti_raw(root, scene, p_rect, with_calib=True):
    """A 3x5 scene: disparities 40 and 38 px, flow (1.5, -0.5) px."""
    height, width = 3, 5
    train = osp.join(root, 'training')
    for d in ('disp_occ_0', 'disp_occ_1', 'flow_occ', 'calib_cam_to_cam'):
        os.makedirs(osp.join(train, d), exist_ok=True)
    disp1 = np.full((height, width), 40 * 256, np.uint16)
    disp1[0, 0] = 0  # invalid
    disp2 = np.full((height, width), 38 * 256, np.uint16)
    flow = np.zeros((height, width, 3), np.uint16)
    flow[..., 0] = int(1.5 * 64 + 2**15)
    flow[..., 1] = int(-0.5 * 64 + 2**15)
    flow[..., 2] = 1
    flow[1, 2, 2] = 0  # invalid
    write_png(osp.join(train, 'disp_occ_0', scene + '_10.png'), disp1)
    write_png(osp.join(train, 'disp_occ_1', scene + '_10.png'), disp2)
    write_png(osp.join(train, 'flow_occ', scene + '_10.png'), flow)
    if with_calib:
        values = ' '.join(f'{v:.6e}' for row in p_rect for v in row)
        with open(osp.join(train, 'calib_cam_to_cam', scene + '.txt'),
                  'w') as f:
            f.write('calib_time: 09-Jan-2012 13:57:47\n')
            f.write(f'P_rect_02: {values}\n')
    valid = np.ones((height, width), bool)
    valid[0, 0] = valid[1, 2] = False
    return valid


def test_kitti_round_trip(tmp_path, create_data):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    calib = load_kitti_calibration()
    valid = write_kitti_raw(raw, '000002', calib['000002'])
    write_kitti_raw(raw, '000003', calib['000003'], with_calib=False)
    assert create_data(['kitti', raw, out]) == 0
    dataset = KITTI(out, scenes=['000002', '000003'], pipeline=LOAD)
    v, u = np.nonzero(valid)
    focal = calib['000002'][0][0]
    for i in range(2):
        item = dataset[i]
        assert item['pc1'].shape == (13, 3)
        np.testing.assert_allclose(
            item['pc1'][:, 2], focal * 0.54 / (40 + 1e-5), rtol=1e-5)
        np.testing.assert_allclose(
            item['pc2'][:, 2], focal * 0.54 / (38 + 1e-5), rtol=1e-5)
        # Projecting with the scene's P_rect_02 gives back the pixels.
        np.testing.assert_allclose(
            project_to_image(item['pc1'], item['camera']),
            np.stack([u, v], 1),
            atol=1e-3)
        np.testing.assert_allclose(
            project_to_image(item['pc2'], item['camera']),
            np.stack([u + 1.5, v - 0.5], 1),
            atol=1e-3)
        # y points up: image rows 0-2 lie above the principal point row
        # (cy ~ 173), so their points have y > 0.
        assert (item['pc1'][:, 1] > 0).all()


def test_kitti_missing_raw(tmp_path, create_data):
    with pytest.raises(FileNotFoundError, match='no disp_occ_0 folder'):
        create_data(['kitti', str(tmp_path), str(tmp_path / 'out')])


def test_ft3d_mini_round_trip(tmp_path, create_data):
    src, out = str(tmp_path / 'ft3d'), str(tmp_path / 'mini')
    make_ft3d(src, dict(train=10, val=2), num_points=8)
    assert create_data(
        ['ft3d-mini', src, out, '--ratio', '0.2', '--seed', '0']) == 0
    with open(osp.join(out, 'manifest.json')) as f:
        manifest = json.load(f)
    names = [f'{i:07d}' for i in range(10)]
    assert manifest['samples'] == select_minimized_subset(names, 0.2, 0)
    assert manifest['ratio'] == 0.2 and manifest['seed'] == 0
    assert manifest['source'] == src
    assert manifest['num_source_samples'] == 10
    assert manifest['val_samples'] == 2
    first = manifest['samples'][0]
    assert osp.samefile(
        osp.join(src, 'train', first, 'pc1.npy'),
        osp.join(out, 'train', first, 'pc1.npy'))
    full = FlyingThings3D(out, split='train')
    assert [full.get_data_info(i)['sample_name']
            for i in range(len(full))] == manifest['samples']
    mini = MinimizedFlyingThings3D(out)
    direct = MinimizedFlyingThings3D(src)
    assert len(mini) == len(direct) == 2
    assert [mini.get_data_info(i)['sample_name'] for i in range(2)
            ] == [direct.get_data_info(i)['sample_name'] for i in range(2)]
    assert len(FlyingThings3D(out, split='val')) == 2
