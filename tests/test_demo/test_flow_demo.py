"""Tests of demo/flow_demo.py: readers, errors and a full small run."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from bpfn_test_utils import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO = REPO_ROOT / 'demo' / 'flow_demo.py'
MODEL_BASE = REPO_ROOT / 'configs' / '_base_' / 'models' / 'bpfn.py'


@pytest.fixture(scope='module')
def demo():
    return load_script(DEMO, 'flow_demo')


def cloud(n: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform([-5, -1, 1], [5, 1, 20], (n, 3)).astype(np.float32)


def write_ply(path: Path, points: np.ndarray, binary: bool) -> Path:
    header = ['ply',
              f'format {"binary_little_endian" if binary else "ascii"} 1.0',
              f'element vertex {len(points)}', 'property float x',
              'property float y', 'property float z',
              'property uchar red', 'element face 0',
              'property list uchar int vertex_indices', 'end_header']
    with open(path, 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode())
        if binary:
            rec = np.zeros(len(points), dtype=[('x', '<f4'), ('y', '<f4'),
                                               ('z', '<f4'), ('r', 'u1')])
            rec['x'], rec['y'], rec['z'] = points.T
            f.write(rec.tobytes())
        else:
            for p in points:
                f.write(f'{p[0]} {p[1]} {p[2]} 7\n'.encode())
    return path


def write_pcd(path: Path, points: np.ndarray, binary: bool) -> Path:
    header = ['# .PCD v0.7', 'VERSION 0.7', 'FIELDS x y z intensity',
              'SIZE 4 4 4 4', 'TYPE F F F F', 'COUNT 1 1 1 1',
              f'WIDTH {len(points)}', 'HEIGHT 1', 'VIEWPOINT 0 0 0 1 0 0 0',
              f'POINTS {len(points)}',
              f'DATA {"binary" if binary else "ascii"}']
    data = np.concatenate([points, np.ones((len(points), 1), np.float32)], 1)
    with open(path, 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode())
        if binary:
            f.write(data.astype('<f4').tobytes())
        else:
            np.savetxt(f, data, fmt='%.7g')
    return path


@pytest.mark.parametrize('binary', [False, True])
def test_ply_and_pcd_readers(demo, tmp_path, binary):
    points = cloud(20)
    ply = demo.load_points(str(write_ply(tmp_path / 'a.ply', points, binary)))
    pcd = demo.load_points(str(write_pcd(tmp_path / 'a.pcd', points, binary)))
    np.testing.assert_allclose(ply, points, rtol=1e-6)
    np.testing.assert_allclose(pcd, points, rtol=1e-6)


def test_npy_and_bin_readers(demo, tmp_path):
    points = cloud(20)
    extra = np.concatenate([points, np.ones((20, 2), np.float32)], 1)
    np.save(tmp_path / 'a.npy', extra)
    np.testing.assert_array_equal(
        demo.load_points(str(tmp_path / 'a.npy')), points)
    extra[:, :4].astype('<f4').tofile(tmp_path / 'a.bin')
    np.testing.assert_array_equal(
        demo.load_points(str(tmp_path / 'a.bin')), points)


def test_clear_errors(demo, tmp_path):
    np.save(tmp_path / 'flat.npy', np.zeros((10, 2), np.float32))
    with pytest.raises(demo.PointCloudFormatError,
                       match=r'flat\.npy: expected an array of shape'):
        demo.load_points(str(tmp_path / 'flat.npy'))
    np.save(tmp_path / 'ints.npy', np.zeros((10, 3), np.int64))
    with pytest.raises(demo.PointCloudFormatError,
                       match=r'ints\.npy: expected float'):
        demo.load_points(str(tmp_path / 'ints.npy'))
    (tmp_path / 'c.txt').write_text('1 2 3\n')
    with pytest.raises(demo.PointCloudFormatError,
                       match=r"c\.txt: unsupported point cloud format '\.txt'"):
        demo.load_points(str(tmp_path / 'c.txt'))
    (tmp_path / 'fake.ply').write_text('not a ply\n')
    with pytest.raises(demo.PointCloudFormatError,
                       match=r'fake\.ply: not a PLY file'):
        demo.load_points(str(tmp_path / 'fake.ply'))
    (tmp_path / 'odd.bin').write_bytes(b'\0' * 10)
    with pytest.raises(demo.PointCloudFormatError,
                       match=r'odd\.bin: 10 bytes is not a multiple of 16'):
        demo.load_points(str(tmp_path / 'odd.bin'))
    (tmp_path / 'nox.pcd').write_text(
        'FIELDS a b c\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nPOINTS 0\n'
        'DATA ascii\n')
    with pytest.raises(demo.PointCloudFormatError,
                       match=r'nox\.pcd: the PCD has no x, y, z field'):
        demo.load_points(str(tmp_path / 'nox.pcd'))
    with pytest.raises(FileNotFoundError, match='missing.npy'):
        demo.load_points(str(tmp_path / 'missing.npy'))


@pytest.fixture(scope='module')
def small_setup(tmp_path_factory):
    """A small model config and a checkpoint of its random weights."""
    from bpfn.registry import MODELS
    folder = tmp_path_factory.mktemp('demo_model')
    config = folder / 'small.py'
    config.write_text(
        f'_base_ = [{str(MODEL_BASE)!r}]\n'
        'model = dict(num_points=[128, 64, 32, 16], feat_neighbors=8,\n'
        '             flow_neighbors=8, width_mult=0.25)\n')
    init_default_scope('bpfn')
    torch.manual_seed(0)
    model = MODELS.build(dict(type='BiPointFlowNet',
                              num_points=[128, 64, 32, 16], feat_neighbors=8,
                              flow_neighbors=8, width_mult=0.25))
    ckpt = folder / 'small.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return str(config), str(ckpt)


@pytest.mark.parametrize('ext', ['npy', 'ply'])
def test_demo_runs(demo, tmp_path, small_setup, ext, capsys):
    config, ckpt = small_setup
    pc1, pc2 = cloud(700, 1), cloud(600, 2)
    if ext == 'npy':
        np.save(tmp_path / 'pc1.npy', pc1)
        np.save(tmp_path / 'pc2.npy', pc2)
    else:
        write_ply(tmp_path / 'pc1.ply', pc1, binary=True)
        write_ply(tmp_path / 'pc2.ply', pc2, binary=False)
    out = tmp_path / 'flow.npy'
    args = [str(tmp_path / f'pc1.{ext}'), str(tmp_path / f'pc2.{ext}'),
            config, ckpt, '--out-file', str(out), '--num-points', '512']
    demo.main(args + ['--show'])
    flow = np.load(out)
    assert flow.shape == (700, 3) and flow.dtype == np.float32
    assert np.isfinite(flow).all()
    assert (tmp_path / 'flow.png').is_file()
    assert 'Flow of 700 points written' in capsys.readouterr().out
    # Deterministic sampling: the same flow on a second run.
    demo.main(args + ['--out-file', str(tmp_path / 'again.npy')])
    np.testing.assert_array_equal(np.load(tmp_path / 'again.npy'), flow)


def test_demo_reports_bad_file(demo, tmp_path, small_setup):
    config, ckpt = small_setup
    np.save(tmp_path / 'pc1.npy', cloud(600))
    np.save(tmp_path / 'bad.npy', np.zeros((600, ), np.float32))
    with pytest.raises(SystemExit, match=r'error: .*bad\.npy: expected an '
                       r'array of shape \(N, 3\)'):
        demo.main([str(tmp_path / 'pc1.npy'), str(tmp_path / 'bad.npy'),
                   config, ckpt, '--out-file', str(tmp_path / 'f.npy')])


def test_demo_uses_the_package_readers(demo):
    from bpfn.datasets import readers
    assert demo.load_points is readers.load_points
    assert demo.PointCloudFormatError is readers.PointCloudFormatError


def test_demo_takes_a_work_dir(demo, tmp_path, small_setup, capsys):
    """A work dir gives its best checkpoint; threads and file are printed."""
    import shutil
    config, ckpt = small_setup
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copyfile(ckpt, work / 'epoch_2.pth')
    shutil.copyfile(ckpt, work / 'best_EPE3D_epoch_1.pth')
    (work / 'last_checkpoint').write_text('epoch_2.pth')
    np.save(tmp_path / 'pc1.npy', cloud(300, 1))
    np.save(tmp_path / 'pc2.npy', cloud(300, 2))
    args = [str(tmp_path / 'pc1.npy'), str(tmp_path / 'pc2.npy'), config]
    opts = ['--num-points', '256', '--threads', '1']
    demo.main(args + [str(work), '--out-file', str(tmp_path / 'a.npy')]
              + opts)
    out = capsys.readouterr().out
    assert 'threads: 1 (--threads)' in out
    assert f'checkpoint: {work / "best_EPE3D_epoch_1.pth"} (best ' \
        'checkpoint best_EPE3D_epoch_1.pth' in out
    demo.main(args + [ckpt, '--out-file', str(tmp_path / 'b.npy')] + opts)
    np.testing.assert_array_equal(np.load(tmp_path / 'a.npy'),
                                  np.load(tmp_path / 'b.npy'))
