"""Loaders never pass a bad value on: each bad input fails (or is skipped)
with a message that names the file, the entry or the field."""
import argparse
import io
import os
import re

import numpy as np
import pytest
from mmengine.config import Config, DictAction

from bpfn.datasets import (KITTI, FlyingThings3D, PointCloudFormatError,
                           SyntheticSceneFlow, load_cloud, load_points,
                           normalize_scene_names, readers, validate_cloud)
from bpfn.datasets import utils as utils_module
from bpfn.registry import DATASETS
from .tiny_data import make_kitti, write_pair

LOAD = [dict(type='LoadSceneFlowNpy')]


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert '\n' not in message
    return message


# 1. float64 values beyond float32's range --------------------------------
def big_cloud() -> np.ndarray:
    cloud = np.ones((4, 3), np.float64)
    cloud[2, 1] = 1e300
    return cloud


def test_float64_beyond_float32_is_refused_naming_the_file(tmp_path):
    path = tmp_path / 'pc1.npy'
    np.save(path, big_cloud())
    expected = (f'{path}: 1 point(s) exceed the float32 range (first at row '
                '2: [1.0, 1e+300, 1.0]); expected coordinates within '
                '+-3.403e+38')
    with pytest.raises(ValueError) as info:
        load_cloud(str(path))
    assert str(info.value) == expected
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))  # the demo's reader
    assert str(info.value) == expected
    # Just inside float32's range is accepted.
    ok = big_cloud()
    ok[2, 1] = 3.4e38
    assert np.isfinite(validate_cloud(ok, 'x')).all()


def test_float64_beyond_float32_in_a_dataset_sample(tmp_path):
    folder = tmp_path / 'train' / '0000000'
    write_pair(str(folder), np.ones((4, 3)), big_cloud())
    dataset = FlyingThings3D(str(tmp_path), pipeline=LOAD)
    with pytest.raises(ValueError, match=re.escape(
            f'{folder / "pc2.npy"}: 1 point(s) exceed the float32 range')):
        dataset[0]


def test_float64_beyond_float32_in_ply(tmp_path):
    pytest.importorskip('plyfile', reason='plyfile reads .ply files')
    path = tmp_path / 'big.ply'
    header = ('ply\nformat binary_little_endian 1.0\nelement vertex 2\n'
              'property double x\nproperty double y\nproperty double z\n'
              'end_header\n')
    path.write_bytes(header.encode() +
                     np.array([[0, 0, 1], [1e39, 0, 1]], '<f8').tobytes())
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))
    assert one_line(info).startswith(
        f'{path}: 1 point(s) exceed the float32 range (first at row 1')


# 2. .npy headers that claim too much -------------------------------------
def write_npy_header(path, shape, payload: bytes, descr='<f4') -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, dict(descr=descr, fortran_order=False, shape=shape))
    path.write_bytes(buf.getvalue() + payload)  # magic, header, data


def test_npy_header_claiming_more_than_the_file_holds(tmp_path):
    path = tmp_path / 'pc1.npy'
    write_npy_header(path, (1000, 3), np.ones((10, 3), '<f4').tobytes())
    expected = (f'{path}: the .npy header claims shape (1000, 3) of float32 '
                '(12000 bytes of data) but the file holds 120; a truncated '
                'file?')
    with pytest.raises(ValueError) as info:
        load_cloud(str(path))
    assert str(info.value) == expected
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))
    assert str(info.value) == expected


def test_npy_header_beyond_the_point_limit(tmp_path):
    path = tmp_path / 'huge.npy'
    write_npy_header(path, (10**12, 3), b'\0' * 48)
    with pytest.raises(ValueError) as info:
        load_cloud(str(path))
    assert str(info.value) == (
        f'{path}: the .npy header (shape (1000000000000, 3)) claims '
        '1000000000000 points, more than the limit of 134217728 '
        '(bpfn.datasets.readers.MAX_POINTS); a corrupt header?')


def test_memory_error_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / 'pc1.npy'
    np.save(path, np.ones((5, 3), np.float32))

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(readers.np, 'load', no_memory)
    with pytest.raises(MemoryError) as info:
        load_cloud(str(path))
    assert str(info.value) == (f'{path}: not enough memory for its (5, 3) '
                               'float32 array')


def test_point_limit_of_bin_ply_and_pcd(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, 'MAX_POINTS', 3)
    (tmp_path / 'a.bin').write_bytes(np.ones((4, 4), '<f4').tobytes())
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(tmp_path / 'a.bin'))
    assert one_line(info) == (
        f'{tmp_path / "a.bin"}: the file size claims 4 points, more than '
        'the limit of 3 (bpfn.datasets.readers.MAX_POINTS); a corrupt '
        'header?')
    (tmp_path / 'a.pcd').write_text(
        'FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nPOINTS 99\nDATA binary\n')
    with pytest.raises(PointCloudFormatError,
                       match=re.escape('a.pcd: the PCD header (POINTS) '
                                       'claims 99 points')):
        load_points(str(tmp_path / 'a.pcd'))


def test_synthetic_refuses_an_oversized_cloud():
    with pytest.raises(ValueError, match=re.escape(
            'SyntheticSceneFlow: num_points=200000000 is more than the '
            'limit of 134217728 points per cloud')):
        SyntheticSceneFlow(num_samples=1, num_points=200_000_000)


# 3. Unreadable entries in a split folder ---------------------------------
@pytest.fixture
def split_with_bad_entries(tmp_path):
    root = tmp_path / 'ft3d'
    rng = np.random.default_rng(0)
    for name in ('0000000', '0000001'):
        write_pair(str(root / 'train' / name),
                   rng.random((8, 3)).astype(np.float32),
                   rng.random((8, 3)).astype(np.float32))
    train = root / 'train'
    os.symlink('loop', train / 'loop')  # a symlink loop
    os.symlink('nowhere', train / 'dangling')  # a broken link
    (train / 'self_loop_pc1').mkdir()
    os.symlink('pc1.npy', train / 'self_loop_pc1' / 'pc1.npy')
    (train / 'locked').mkdir()
    np.save(train / 'locked' / 'pc1.npy', np.ones((2, 3), np.float32))
    return root


def test_unreadable_entries_are_skipped_with_a_warning(split_with_bad_entries,
                                                       monkeypatch):
    root = split_with_bad_entries
    locked = str(root / 'train' / 'locked')
    listdir = os.listdir

    def deny(path):  # the tests run as root, where chmod 000 has no effect
        if str(path) == locked:
            raise PermissionError(13, 'Permission denied', locked)
        return listdir(path)

    monkeypatch.setattr(utils_module.os, 'listdir', deny)
    messages = []
    monkeypatch.setattr(utils_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    dataset = FlyingThings3D(str(root), split='train', pipeline=LOAD)
    assert len(dataset) == 2
    assert dataset[1]['sample_name'] == '0000001'
    assert messages == [
        f"FlyingThings3D: 4 unreadable entries in '{root / 'train'}' skipped: "
        'dangling (broken link), locked (Permission denied), loop (Too many '
        'levels of symbolic links), self_loop_pc1 (Too many levels of '
        'symbolic links)'
    ]


# 4. KITTI scene lists ----------------------------------------------------
def test_kitti_empty_scene_list_is_an_error(kitti_root, tmp_path):
    root, _ = kitti_root
    with pytest.raises(ValueError) as info:
        KITTI(root, scenes=[])
    assert str(info.value) == (
        "KITTI: the scene list is empty; give scene names such as "
        "scenes=['000002'] (or leave scenes unset for the 142 standard "
        'scenes)')
    listing = tmp_path / 'none.txt'
    listing.write_text('\n\n')
    with pytest.raises(ValueError) as info:
        KITTI(root, scenes=str(listing))
    assert str(info.value) == (f'KITTI: the scene list file {listing} is '
                               'empty; expected one scene name per line')
    with pytest.raises(FileNotFoundError, match=re.escape(
            "KITTI: scenes='000002' is not a file; give a scene list file or "
            "a list of names (scenes=['000002'])")):
        KITTI(root, scenes='000002')


@pytest.mark.parametrize('option', [
    "test_dataloader.dataset.scenes=['000002']",
    'test_dataloader.dataset.scenes=[2]',
    'test_dataloader.dataset.scenes=2',
])
def test_kitti_scenes_from_the_command_line(kitti_root, option):
    root, _ = kitti_root
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(['--cfg-options', option]).cfg_options
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        type='KITTI', data_root=root, scenes=None, pipeline=LOAD))))
    cfg.merge_from_dict(options)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == 1
    assert dataset.get_data_info(0)['sample_name'] == '000002'
    assert dataset[0]['pc1'].shape == (64, 3)


def test_kitti_duplicate_scenes_warn_and_count_once(tmp_path, monkeypatch):
    root = str(tmp_path / 'kitti')
    make_kitti(root, ['000002', '000003'], num_points=8)
    messages = []
    monkeypatch.setattr(utils_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    dataset = KITTI(root, scenes=['000003', 2, '000002', '3'])
    assert [dataset.get_data_info(i)['sample_name']
            for i in range(len(dataset))] == ['000003', '000002']
    assert messages == [
        'KITTI: 2 repeated scene(s) counted once: 000002, 000003'
    ]


@pytest.mark.parametrize('scene, message', [
    (-2, 'KITTI: scene -2 is negative'),
    (True, "KITTI: scene True (bool) is not a scene name"),
    (2.0, "KITTI: scene 2.0 (float) is not a scene name"),
    ('', "KITTI: an empty scene name in ['']"),
])
def test_kitti_bad_scene_names(scene, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        normalize_scene_names([scene])


# 5. Malformed PLY / PCD headers ------------------------------------------
PLY = ('ply\nformat binary_little_endian 1.0\nelement vertex 2\n'
       'property float x\nproperty float y\nproperty float z\nend_header\n')


@pytest.mark.parametrize('header, message', [
    (PLY.replace('vertex 2', 'vertex abc'),
     'malformed PLY header: line 3: expected integer count'),
    (PLY.replace('float y', 'flot y'),
     "malformed PLY header: line 5: field type 'flot' not in"),
    (PLY.replace('binary_little_endian', 'binary_middle_endian'),
     "malformed PLY header: line 2: don't understand format "
     "'binary_middle_endian'"),
    (PLY.replace('end_header\n', ''),
     'malformed PLY header: a non-ASCII byte at offset 0 of a header line '
     '(no end_header line before the binary data?)'),
    (PLY.replace('property float z\n', ''),
     "the vertex element has no z property (properties: ['x', 'y'])"),
    (PLY.replace('element vertex 2', 'element point 2'),
     "no \"vertex\" element in the PLY header (elements: ['point'])"),
], ids=['count', 'type', 'format', 'no-end', 'no-z', 'no-vertex'])
def test_malformed_ply_headers(tmp_path, header, message):
    pytest.importorskip('plyfile', reason='plyfile reads .ply files')
    path = tmp_path / 'bad.ply'
    path.write_bytes(header.encode() + np.ones((2, 3), '<f4').tobytes())
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))
    assert one_line(info).startswith(f'{path}: {message}')


def test_ply_header_cut_short(tmp_path):
    pytest.importorskip('plyfile', reason='plyfile reads .ply files')
    path = tmp_path / 'cut.ply'
    path.write_text(PLY.replace('end_header\n', ''))
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))
    assert one_line(info) == (f'{path}: malformed PLY header: line 7: early '
                              'end-of-file')


def test_truncated_ply_body(tmp_path):
    pytest.importorskip('plyfile', reason='plyfile reads .ply files')
    path = tmp_path / 'short.ply'
    path.write_bytes(PLY.encode() + np.ones(4, '<f4').tobytes())
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))
    assert one_line(info) == (f"{path}: bad PLY data: element 'vertex': row "
                              '1: early end-of-file')


PCD = ['VERSION 0.7', 'FIELDS x y z', 'SIZE 4 4 4', 'TYPE F F F',
       'COUNT 1 1 1', 'WIDTH 2', 'HEIGHT 1', 'POINTS 2', 'DATA binary']


def pcd_with(**changes):
    lines = []
    for line in PCD:
        key = line.split()[0]
        if key in changes:
            if changes[key] is None:
                continue
            line = f'{key} {changes[key]}'
        lines.append(line)
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize('header, message', [
    (pcd_with(SIZE='4 4 x'),
     "PCD header field SIZE '4 4 x' is not a list of integers"),
    (pcd_with(SIZE='4 4'), 'PCD header field SIZE has 2 value(s), expected 3'),
    (pcd_with(TYPE='F F'), 'PCD header field TYPE has 2 value(s), expected 3'),
    (pcd_with(TYPE='F F D'),
     "PCD field 'z' has TYPE D SIZE 4; expected F 4/8, I or U 1/2/4/8"),
    (pcd_with(POINTS='-2'), "PCD header field POINTS '-2' is negative"),
    (pcd_with(POINTS='two'),
     "PCD header field POINTS 'two' is not a list of integers"),
    (pcd_with(POINTS=None, WIDTH=None),
     'no POINTS (nor WIDTH) line in the PCD header'),
    (pcd_with(TYPE=None), 'no TYPE line in the PCD header'),
    (pcd_with(FIELDS='x y q'),
     "the PCD has no z field (fields: ['x', 'y', 'q'])"),
    (pcd_with(DATA='binary_compressed'),
     "PCD header field DATA 'binary_compressed' is not supported; expected "
     "'ascii' or 'binary'"),
    (pcd_with(DATA=None), 'no "DATA" line in the PCD header'),
    (pcd_with(POINTS='5'),
     'truncated: the PCD header announces 5 points, the file holds 2'),
], ids=['size-int', 'size-len', 'type-len', 'type', 'negative', 'points-int',
        'no-points', 'no-type', 'no-z', 'compressed', 'no-data', 'truncated'])
def test_malformed_pcd_headers(tmp_path, header, message):
    path = tmp_path / 'bad.pcd'
    path.write_bytes(header.encode() + np.ones((2, 3), '<f4').tobytes())
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))
    assert one_line(info) == f'{path}: {message}'


def test_ascii_pcd_with_a_short_row(tmp_path):
    path = tmp_path / 'short.pcd'
    path.write_text(pcd_with(DATA='ascii') + '1 2 3\n4 5\n')
    with pytest.raises(PointCloudFormatError) as info:
        load_points(str(path))
    assert one_line(info).startswith(f'{path}: bad ASCII point data (')
