"""Tests of bpfn/datasets/unlabeled_scans.py."""
import os
import os.path as osp

import numpy as np
import pytest
import torch

from bpfn.datasets import UnlabeledScans, flow_collate
from bpfn.datasets import unlabeled_scans as scans_module
from bpfn.registry import DATASETS, MODELS

PIPELINE = [
    dict(type='LoadScanPair'),
    dict(type='GroundRemoval', threshold=-1.4),
    dict(type='DepthFilter', max_depth=35.0, min_depth=0.0),
    dict(type='RandomSampleFlowPoints', num_points=64, deterministic=True),
    dict(type='PackFlowInputs'),
]


def scan(seed, num=200):
    """A scan around a sensor (360 degrees), x, y, z in the stored axes."""
    rng = np.random.default_rng(seed)
    return rng.uniform([-30, -30, -1.8], [30, 30, 2.0],
                       (num, 3)).astype(np.float32)


def write_bin(path, points):
    os.makedirs(osp.dirname(path), exist_ok=True)
    records = np.concatenate([points, np.ones((len(points), 1))], 1)
    records.astype('<f4').tofile(path)


def write_ply(path, points):
    header = ('ply\nformat binary_little_endian 1.0\n'
              f'element vertex {len(points)}\nproperty float x\n'
              'property float y\nproperty float z\nend_header\n')
    with open(path, 'wb') as f:
        f.write(header.encode() + points.astype('<f4').tobytes())


def write_pcd(path, points):
    header = ('VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\n'
              f'COUNT 1 1 1\nWIDTH {len(points)}\nHEIGHT 1\n'
              f'POINTS {len(points)}\nDATA ascii\n')
    with open(path, 'w') as f:
        f.write(header)
        np.savetxt(f, points, fmt='%.7g')


WRITERS = dict(npy=lambda p, x: np.save(p, x), ply=write_ply, pcd=write_pcd,
               bin=write_bin)


@pytest.fixture
def kitti_raw(tmp_path):
    """Two KITTI raw drives: 3 and 2 Velodyne scans."""
    root = tmp_path / 'kitti_raw'
    clouds = {}
    for drive, count in (('2011_09_26_drive_0001_sync', 3),
                         ('2011_09_26_drive_0002_sync', 2)):
        for i in range(count):
            path = str(root / '2011_09_26' / drive / 'velodyne_points' /
                       'data' / f'{i:010d}.bin')
            clouds[path] = scan(len(clouds))
            write_bin(path, clouds[path])
    return str(root), clouds


def test_kitti_raw_drives_give_pairs_in_camera_axes(kitti_raw):
    root, clouds = kitti_raw
    dataset = UnlabeledScans(root, axes='kitti_velodyne', test_mode=True,
                             pipeline=PIPELINE[:1])
    assert len(dataset) == 3  # 2 + 1 pairs, none across drives
    first = dataset[0]
    data = osp.join(root, '2011_09_26', '2011_09_26_drive_0001_sync',
                    'velodyne_points', 'data')
    assert first['sample_name'] == ('2011_09_26/2011_09_26_drive_0001_sync/'
                                    'velodyne_points/data/0000000000')
    assert first['pc2_path'] == osp.join(data, '0000000001.bin')
    assert dataset[2]['pc1_path'].endswith('drive_0002_sync/velodyne_points/'
                                           'data/0000000000.bin')
    velo = clouds[osp.join(data, '0000000000.bin')]
    np.testing.assert_array_equal(first['pc1'], velo[:, [1, 2, 0]])
    assert 'flow' not in first and first['frame_interval'] == 0.1
    assert not dataset.labeled_mask().any()


def test_pipeline_removes_ground_and_points_behind(kitti_raw):
    root, _ = kitti_raw
    dataset = DATASETS.build(
        dict(type='UnlabeledScans', data_root=root, axes='kitti_velodyne',
             test_mode=True, pipeline=PIPELINE))
    out = dataset[1]
    pc1 = out['inputs']['pc1']
    assert pc1.shape == (64, 3)
    assert (pc1[:, 2] > 0).all() and (pc1[:, 2] < 35).all()
    assert (pc1[:, 1] >= -1.4).all()
    assert 'gt_flow' not in out['data_samples']
    again = dataset[1]
    torch.testing.assert_close(again['inputs']['pc2'], out['inputs']['pc2'])


@pytest.mark.parametrize('ext', ['npy', 'ply', 'pcd'])
def test_flat_folder_of_npy_ply_pcd(tmp_path, ext):
    root = tmp_path / 'scans'
    root.mkdir()
    points = {name: scan(i) for i, name in enumerate(['2', '10', '1'])}
    for name, pts in points.items():
        WRITERS[ext](str(root / f'{name}.{ext}'), pts)
    dataset = UnlabeledScans(str(root), pipeline=PIPELINE[:1])
    # Names sort as numbers: 1, 2, 10.
    assert [dataset[i]['sample_name'] for i in range(2)] == ['1', '2']
    assert dataset[1]['pc2_path'] == str(root / f'10.{ext}')
    np.testing.assert_allclose(dataset[1]['pc1'], points['2'], rtol=1e-6)
    np.testing.assert_allclose(dataset[1]['pc2'], points['10'], rtol=1e-6)


def test_frame_step_and_extensions(tmp_path):
    root = tmp_path / 'scans'
    root.mkdir()
    for i in range(4):
        np.save(root / f'{i}.npy', scan(i))
    (root / 'notes.txt').write_text('not a scan')
    os.symlink('.', root / 'loop')  # a symlink loop is walked once
    dataset = UnlabeledScans(str(root), frame_step=2, extensions=['.NPY'])
    assert [(osp.basename(dataset.get_data_info(i)['pc1_path']),
             osp.basename(dataset.get_data_info(i)['pc2_path']))
            for i in range(len(dataset))] == [('0.npy', '2.npy'),
                                              ('1.npy', '3.npy')]


def test_one_scan_is_a_clear_error(tmp_path):
    root = tmp_path / 'one'
    root.mkdir()
    np.save(root / 'only.npy', scan(0))
    with pytest.raises(ValueError) as info:
        UnlabeledScans(str(root))
    assert str(info.value) == (
        f"UnlabeledScans: no pair of scans 1 apart in '{root}': "
        f'{root} (1 scan(s): only.npy); a folder needs at least 2 scans '
        '(pairs never span two folders)')


def test_unreadable_files_are_named(tmp_path):
    root = tmp_path / 'bad'
    root.mkdir()
    for i in range(2):
        np.save(root / f'{i}.npy', scan(i))
    (root / '2.bin').write_bytes(b'\0' * 10)
    (root / '3.npy').write_text('not an array')
    np.save(root / '4.npy', np.zeros((5, 2), np.float32))
    os.symlink('missing.pcd', root / '5.pcd')
    (root / '6.ply').write_text('no ply header\n')
    with pytest.raises(ValueError) as info:
        UnlabeledScans(str(root))
    msg = str(info.value)
    assert msg.startswith(
        f"UnlabeledScans: 5 unreadable scan file(s) under '{root}': "
        f'{root}/2.bin: 10 bytes is not a positive multiple of 16')
    for name, reason in (('3.npy', 'cannot be read as a .npy array'),
                         ('4.npy', 'holds a float32 array of shape (5, 2)'),
                         ('5.pcd', 'not a readable file (a broken link?)'),
                         ('6.ply', 'not a PLY file')):
        assert f'{root}/{name}: {reason}' in msg
    assert '0.npy' not in msg and '1.npy' not in msg


def test_short_folder_is_skipped_with_a_warning(tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(scans_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    root = tmp_path / 'seqs'
    (root / 'a').mkdir(parents=True)
    (root / 'b').mkdir()
    for i in range(3):
        np.save(root / 'a' / f'{i}.npy', scan(i))
    np.save(root / 'b' / '0.npy', scan(9))
    assert len(UnlabeledScans(str(root))) == 2
    assert messages == [
        'UnlabeledScans: 1 folder(s) with too few scans for a pair skipped: '
        f'{root}/b (1 scan(s): 0.npy)'
    ]


def test_missing_or_empty_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        UnlabeledScans(str(tmp_path / 'nope'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match=r'no \.npy/\.ply/\.pcd/\.bin '
                       'scan under'):
        UnlabeledScans(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='extensions'):
        UnlabeledScans(str(tmp_path), extensions=['.las'])


def test_model_loss_refuses_and_predict_accepts(kitti_raw):
    root, _ = kitti_raw
    dataset = UnlabeledScans(root, axes='kitti_velodyne', test_mode=True,
                             pipeline=PIPELINE)
    batch = flow_collate([dataset[0], dataset[2]])
    model = MODELS.build(
        dict(type='BiPointFlowNet', num_points=[32, 16, 16, 8],
             feat_neighbors=4, flow_neighbors=4, estimator_neighbors=4,
             width_mult=0.25, estimator_channels=[32, 32],
             estimator_mlp=[32, 16]))
    with pytest.raises(KeyError) as info:
        model(**batch, mode='loss')
    msg = info.value.args[0]
    assert msg.startswith(
        '2 of 2 data samples have no ground-truth flow (gt_flow): '
        "'2011_09_26/2011_09_26_drive_0001_sync/velodyne_points/data/"
        "0000000000' (dataset 'UnlabeledScans', sample_idx 0), ")
    assert 'the flow loss needs ground truth on every sample' in msg
    with torch.no_grad():
        outputs = model.eval()(**batch, mode='predict')
    assert outputs[1]['pred_flow'].shape == (64, 3)
    assert 'gt_flow' not in outputs[1]
