"""Round trips of tools/create_data.py on tiny raw files.

The converters live in bpfn/datasets/converters/; these tests run the tool's
subcommands and read the results back with the datasets.
"""
import json
import os
import os.path as osp
from pathlib import Path

import numpy as np
import pytest

from bpfn.datasets import (KITTI, FlyingThings3D, MinimizedFlyingThings3D,
                           load_kitti_calibration, select_minimized_subset)
from bpfn.evaluation import project_to_image
from bpfn_test_utils import load_script
from ..tiny_data import make_ft3d
from .raw_writers import write_ft3d_frame, write_png

TOOL = Path(__file__).resolve().parents[3] / 'tools' / 'create_data.py'
LOAD = [dict(type='LoadSceneFlowNpy')]
CX, CY = 479.5, 269.5


@pytest.fixture(scope='module')
def create_data():
    return load_script(TOOL, 'create_data').main


H, W = 8, 12


def subset_frame(seed=0):
    """A frame in the subset's encoding: negative disparities (-22 .. -56 px:
    depths 19 .. 48 m, some beyond 35 m), a disparity change, a flow and a
    few occluded pixels in each mask, all different per pixel so that a
    wrong row order or axis shows."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    disp = -(22.0 + 2.5 * v + 1.5 * u + rng.uniform(0, 0.5, (H, W)))
    change = 0.4 * (v - 3.5) + rng.uniform(-0.1, 0.1, (H, W))
    flow = np.stack([0.5 * u - 2.0 + 0.1 * v, 0.25 * v - 1.0], axis=-1)
    occ_disp = rng.random((H, W)) < 0.15
    occ_flow = rng.random((H, W)) < 0.15
    # Near (< 35 m) in one frame only: z1 = -34.4, z2 = -35.6 and back.
    disp[2, 5], change[2, 5] = -30.5, 1.0
    disp[5, 7], change[5, 7] = -29.5, -1.0
    occ_disp[2, 5] = occ_flow[2, 5] = occ_disp[5, 7] = occ_flow[5, 7] = False
    return dict(
        disparity=disp.astype(np.float32),
        change=change.astype(np.float32),
        flow=flow.astype(np.float32),
        occ_disp=occ_disp,
        occ_flow=occ_flow)


def expected_clouds(frame, near=None):
    """HPLFlowNet's clouds computed by hand in float64 from the formula
    pc = ((u - cx) * -1 / d, (v - cy) / d, -f / d), f = -1050."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    d1 = frame['disparity'].astype(np.float64)
    d2 = d1 + frame['change'].astype(np.float64)
    du, dv = frame['flow'][..., 0].astype(np.float64), frame['flow'][
        ..., 1].astype(np.float64)
    pc1 = np.stack([(u - CX) * -1 / d1, (v - CY) / d1, 1050.0 / d1], -1)
    pc2 = np.stack([(u + du - CX) * -1 / d2, (v + dv - CY) / d2,
                    1050.0 / d2], -1)
    keep = ~frame['occ_disp'] & ~frame['occ_flow']
    pc1, pc2, pixels = pc1[keep], pc2[keep], np.argwhere(keep)
    if near is not None:
        assert (np.abs(pc1[:, 2] + near) > 1e-3).all()
        assert (np.abs(pc2[:, 2] + near) > 1e-3).all()
        close = (pc1[:, 2] > -near) & (pc2[:, 2] > -near)
        pc1, pc2, pixels = pc1[close], pc2[close], pixels[close]
    return pc1, pc2, pixels


def max_rel_error(actual, expected):
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


def write_subset(raw, frames):
    for (split, name), frame in frames.items():
        write_ft3d_frame(raw, split, name, frame['disparity'],
                         frame['change'], frame['flow'], frame['occ_disp'],
                         frame['occ_flow'])


@pytest.mark.parametrize('variant, near', [('35m', 35.0), ('full', None)])
def test_ft3d_writes_hplflownet_clouds(tmp_path, create_data, capsys,
                                       variant, near):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    frames = {('train', '0000000'): subset_frame(0),
              ('train', '0000001'): subset_frame(1),
              ('val', '0000000'): subset_frame(2)}
    write_subset(raw, frames)
    args = ['ft3d', raw, out] + ([] if variant == '35m' else
                                 ['--variant', 'full'])
    assert create_data(args) == 0
    sizes = {}
    for (split, name), frame in frames.items():
        exp1, exp2, pixels = expected_clouds(frame, near)
        folder = osp.join(out, split, name)
        pc1 = np.load(osp.join(folder, 'pc1.npy'))
        pc2 = np.load(osp.join(folder, 'pc2.npy'))
        assert pc1.dtype == pc2.dtype == np.float32
        assert pc1.shape == exp1.shape and 0 < len(exp1) < H * W
        assert max_rel_error(pc1, exp1) <= 1e-5
        assert max_rel_error(pc2, exp2) <= 1e-5
        assert (pc1[:, 2] < 0).all()  # the subset's negative disparities
        sizes.setdefault(split, []).append(len(exp1))
        # Loaded (x and z negated): z forward, y up, and the FT3D camera of
        # the 2D metrics projects the points back onto their pixels.
        dataset = FlyingThings3D(out, split=split, pipeline=LOAD)
        item = dataset[sorted(n for s, n in frames if s == split).index(name)]
        np.testing.assert_array_equal(item['pc1'], pc1 * [-1, 1, -1])
        assert (item['pc1'][:, 2] > 0).all() and (item['pc1'][:, 1] > 0).all()
        np.testing.assert_allclose(
            project_to_image(item['pc1']), pixels[:, ::-1], atol=1e-3)
    if near is not None:  # the 35 m limit dropped some points
        full = [len(expected_clouds(f)[0]) for f in frames.values()]
        assert sum(full) > sum(sum(v) for v in sizes.values())
    report = capsys.readouterr().out
    train = sorted(sizes['train'])
    assert f'FT3D subset ({variant} variant)' in report
    assert (f'train: 2 frame(s) written, 0 skipped; points per frame min '
            f'{train[0]} / median {int(np.median(train))} / max '
            f'{train[1]}') in report
    assert f'val: 1 frame(s) written, 0 skipped; points per frame min ' \
        f'{sizes["val"][0]}' in report
    leftovers = [
        f for _, _, files in os.walk(out) for f in files
        if not f.endswith('.npy')
    ]
    assert leftovers == []


def test_ft3d_reads_full_ft3d_pfm_flow(tmp_path, create_data):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    frame = subset_frame(3)
    write_ft3d_frame(raw, 'train', '0000005', frame['disparity'],
                     frame['change'], frame['flow'], frame['occ_disp'],
                     frame['occ_flow'], flow_ext='.pfm')
    assert create_data(['ft3d', raw, out, '--splits', 'train',
                        '--variant', 'full']) == 0
    exp1, exp2, _ = expected_clouds(frame)
    pc2 = np.load(osp.join(out, 'train', '0000005', 'pc2.npy'))
    assert max_rel_error(pc2, exp2) <= 1e-5


def test_ft3d_skips_bad_frames_and_reports(tmp_path, create_data, capsys):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    good, occluded, far, no_flow = (subset_frame(i) for i in range(4))
    occluded['occ_disp'][:] = True
    far['disparity'][:] = -20.0  # 52.5 m: beyond the 35 m limit
    positive, zero = subset_frame(4), subset_frame(5)
    positive['disparity'][0, :] *= -1  # a positive disparity row
    positive['occ_disp'][0, :] = positive['occ_flow'][0, :] = False
    zero['disparity'][1, 1] = 0.0
    zero['occ_disp'][1, 1] = zero['occ_flow'][1, 1] = False
    write_subset(raw, {('train', '0000000'): good,
                       ('train', '0000001'): occluded,
                       ('train', '0000002'): far,
                       ('train', '0000003'): no_flow,
                       ('train', '0000004'): positive,
                       ('train', '0000005'): zero})
    missing = osp.join(raw, 'train', 'flow', 'left', 'into_future',
                       '0000003.flo')
    os.remove(missing)
    # An earlier (empty) output of a frame that is now skipped goes away.
    stale = osp.join(out, 'train', '0000001')
    os.makedirs(stale)
    np.save(osp.join(stale, 'pc1.npy'), np.zeros((0, 3), np.float32))
    np.save(osp.join(stale, 'pc2.npy'), np.zeros((0, 3), np.float32))
    assert create_data(['ft3d', raw, out, '--splits', 'train']) == 0
    report = capsys.readouterr().out
    assert 'train: 3 frame(s) written, 3 skipped' in report
    assert ('skipped 1 frame(s): every pixel is occluded; e.g. '
            'train/0000001') in report
    assert ('skipped 1 frame(s): no unoccluded point nearer than 35 m in '
            'both frames; e.g. train/0000002') in report
    assert ('skipped 1 frame(s): a raw file is missing; e.g. train/0000003 '
            f'({missing}: raw FT3D flow file not found)') in report
    assert ('hold points with z > 0 (a positive disparity; the FT3D subset '
            'stores negative ones); e.g. train/0000004 (12 points)') in report
    assert ('had pixels of disparity 0 dropped (non-finite points); e.g. '
            'train/0000005 (1)') in report
    assert 'removed the earlier output of 1 skipped frame(s), e.g. ' \
        'train/0000001' in report
    assert sorted(os.listdir(osp.join(out, 'train'))) == [
        '0000000', '0000004', '0000005'
    ]
    zero_pc1 = np.load(osp.join(out, 'train', '0000005', 'pc1.npy'))
    assert np.isfinite(zero_pc1).all()
    # The far frame is kept by the full variant.
    assert create_data(['ft3d', raw, str(tmp_path / 'full'), '--splits',
                        'train', '--variant', 'full']) == 0
    assert osp.isfile(osp.join(tmp_path, 'full', 'train', '0000002',
                               'pc1.npy'))


def test_ft3d_all_skipped_exits_non_zero(tmp_path, create_data, capsys):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    frame = subset_frame(0)
    frame['occ_flow'][:] = True
    write_subset(raw, {('train', '0000000'): frame,
                       ('train', '0000001'): frame})
    assert create_data(['ft3d', raw, out, '--splits', 'train']) == 1
    captured = capsys.readouterr()
    assert 'train: 0 frame(s) written, 2 skipped' in captured.out
    assert 'skipped 2 frame(s): every pixel is occluded' in captured.out
    assert 'error: no frame written for train' in captured.err
    assert not osp.exists(osp.join(out, 'train'))


def test_ft3d_truncated_raw_file_is_named(tmp_path, create_data, capsys):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    write_subset(raw, {('val', '0000000'): subset_frame(0)})
    flo = osp.join(raw, 'val', 'flow', 'left', 'into_future', '0000000.flo')
    with open(flo, 'r+b') as f:
        f.truncate(40)
    assert create_data(['ft3d', raw, out, '--splits', 'val']) == 1
    assert (f'a raw file cannot be read; e.g. val/0000000 ({flo}: truncated '
            '.flo file: 12x8x2 float32 values need 780 bytes, the file has '
            '40)') in capsys.readouterr().out


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


def kitti_by_hand(p_rect, u, v, disparity):
    """process_kitti.py's formula in float64: depth = f 0.54 / (d + 1e-5),
    X = (u (z + P23) - (P02 z + P03)) / f, Y likewise, stored (-X, -Y, z)."""
    p = np.asarray(p_rect, np.float64)
    z = p[0, 0] * 0.54 / (disparity + 1e-5)
    x = (u * (z + p[2, 3]) - (p[0, 2] * z + p[0, 3])) / p[0, 0]
    y = (v * (z + p[2, 3]) - (p[1, 2] * z + p[1, 3])) / p[0, 0]
    return np.stack([-x, -y, np.broadcast_to(z, np.shape(x))], axis=1)


def test_kitti_round_trip(tmp_path, create_data, capsys):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    calib = load_kitti_calibration()
    valid = write_kitti_raw(raw, '000002', calib['000002'])
    write_kitti_raw(raw, '000003', calib['000003'], with_calib=False)
    # Scenes given as numbers are zero-padded.
    assert create_data(['kitti', raw, out, '--scenes', '2', '3']) == 0
    assert ('training: 2 frame(s) written, 0 skipped; points per frame min '
            '13 / median 13 / max 13') in capsys.readouterr().out
    dataset = KITTI(out, scenes=['000002', '000003'], pipeline=LOAD)
    v, u = np.nonzero(valid)
    focal = calib['000002'][0][0]
    for i, scene in enumerate(('000002', '000003')):
        item = dataset[i]
        assert item['pc1'].shape == (13, 3)
        assert max_rel_error(item['pc1'],
                             kitti_by_hand(calib[scene], u, v, 40)) <= 1e-5
        assert max_rel_error(
            item['pc2'], kitti_by_hand(calib[scene], u + 1.5, v - 0.5,
                                       38)) <= 1e-5
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


def test_kitti_skipped_scenes(tmp_path, create_data, capsys):
    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    calib = load_kitti_calibration()
    write_kitti_raw(raw, '000002', calib['000002'])
    flow = osp.join(raw, 'training', 'flow_occ', '000002_10.png')
    write_png(flow, np.zeros((3, 5, 3), np.uint8))  # 8-bit: refused
    assert create_data(['kitti', raw, out]) == 1
    captured = capsys.readouterr()
    assert (f'skipped 1 frame(s): a raw file cannot be read; e.g. 000002 '
            f'({flow}: a 8-bit 3-channel PNG; expected a 16-bit 3-channel '
            'PNG (KITTI flow: R = u, G = v, B = valid))') in captured.out
    assert 'error: no frame written for training' in captured.err
    assert not osp.exists(out)


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
