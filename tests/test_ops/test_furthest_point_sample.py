import importlib

import numpy as np
import pytest
import torch
from bpfn_test_utils import furthest_point_sample_brute_force

from bpfn.ops import furthest_point_sample, reference_algorithms
from bpfn.ops.export import furthest_point_sample_export
from bpfn.ops.furthest_point_sample import furthest_point_sample_reference

fps_module = importlib.import_module('bpfn.ops.furthest_point_sample')


@pytest.mark.parametrize('num_points,num_samples', [(64, 16), (300, 97)])
def test_fps_matches_brute_force(num_points, num_samples):
    gen = torch.Generator().manual_seed(num_points)
    xyz = torch.rand(3, num_points, 3, generator=gen) * 20 - 10
    idx = furthest_point_sample(xyz, num_samples)
    assert idx.shape == (3, num_samples) and idx.dtype == torch.long
    assert torch.equal(idx, furthest_point_sample_brute_force(xyz, num_samples))
    # Starts at index 0 and never picks a point twice.
    assert (idx[:, 0] == 0).all()
    assert all(len(set(row.tolist())) == num_samples for row in idx)


def test_fps_ties_pick_first_index():
    # Points 1 and 2 are equally far from point 0: the first index wins.
    xyz = torch.tensor([[[0., 0, 0], [1, 0, 0], [-1, 0, 0], [0.1, 0, 0]]])
    assert furthest_point_sample(xyz, 2).tolist() == [[0, 1]]


@pytest.mark.parametrize('device', [
    'cpu',
    pytest.param('cuda', marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason='needs CUDA'))
])
def test_fps_sums_the_squares_in_the_original_order(device):
    # From point 0 (the origin), p is farther than q when the squares are
    # summed as the original does, (x^2 + y^2) + z^2: 0.42578566 against
    # 0.42578563 in float32; summed as x^2 + (y^2 + z^2), q is farther.
    # q comes first, so a loop that summed in another order would pick it.
    q = [0.3402579426765442, 0.37069353461265564, 0.41544732451438904]
    p = [0.34025758504867554, 0.37069374322891235, 0.41544741392135620]
    xyz = torch.tensor([[[0., 0, 0], q, p]], device=device)
    sq = xyz[0, 1:]**2
    assert ((sq[:, 0] + sq[:, 1]) + sq[:, 2]).argmax() == 1
    assert (sq[:, 0] + (sq[:, 1] + sq[:, 2])).argmax() == 0
    coords = xyz.transpose(1, 2).contiguous()
    picks = [furthest_point_sample(xyz, 2), fps_module._fps_torch(coords, 2),
             furthest_point_sample_reference(xyz, 2),
             furthest_point_sample_export(xyz, 2)]
    if device == 'cpu':
        picks.append(fps_module._fps_numpy(coords, 2))
        if fps_module.compiled_loop() is not None:
            picks.append(fps_module._fps_compiled(coords, 2))
    assert all(idx.tolist() == [[0, 2]] for idx in picks)


def test_fps_too_many_samples():
    with pytest.raises(ValueError, match='cannot pick 5 points'):
        furthest_point_sample(torch.rand(1, 4, 3), 5)


@pytest.mark.parametrize('batch, num_points', [(2, 500), (1, 33)])
def test_fps_reference_loop_and_switch(batch, num_points):
    gen = torch.Generator().manual_seed(batch)
    xyz = torch.rand(batch, num_points, 3, generator=gen) * 20 - 10
    expected = furthest_point_sample_brute_force(xyz, 20)
    assert torch.equal(furthest_point_sample_reference(xyz, 20), expected)
    with reference_algorithms():
        assert torch.equal(furthest_point_sample(xyz, 20), expected)


@pytest.mark.parametrize('parallel_min', [0, 2**20])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_fps_torch_and_numpy_loops_agree(monkeypatch, parallel_min, dtype):
    # The NumPy loop (CPU) and the torch loop (other devices; on CPU, on one
    # thread for small clouds or on the caller's threads) pick the same
    # points, bit for bit.
    monkeypatch.setattr(fps_module, 'FPS_PARALLEL_MIN_ELEMENTS', parallel_min)
    gen = torch.Generator().manual_seed(3)
    xyz = (torch.rand(3, 700, 3, generator=gen) * 60 - 30).to(dtype)
    coords = xyz.transpose(1, 2).contiguous()
    before = torch.get_num_threads()
    from_torch = fps_module._fps_torch(coords, 120)
    assert torch.get_num_threads() == before
    assert torch.equal(from_torch, fps_module._fps_numpy(coords, 120))
    if fps_module.compiled_loop() is not None:
        assert torch.equal(from_torch, fps_module._fps_compiled(coords, 120))
    assert torch.equal(from_torch, furthest_point_sample(xyz, 120))
    assert torch.equal(from_torch,
                       furthest_point_sample_brute_force(xyz, 120))


def test_fps_compiled_loop_is_used_on_cpu(monkeypatch):
    # Where Numba is installed (CI installs it), finite CPU clouds take the
    # compiled loop, and clouds with non-finite points the NumPy one.
    pytest.importorskip('numba', reason='the compiled loop needs Numba '
                        '(requirements/optional.txt)')
    assert fps_module.compiled_loop() is not None
    calls = []
    for name in ('_fps_compiled', '_fps_numpy'):
        monkeypatch.setattr(
            fps_module, name,
            lambda coords, num, f=getattr(fps_module, name), name=name:
            calls.append(name) or f(coords, num))
    xyz = torch.rand(2, 50, 3)
    furthest_point_sample(xyz, 5)
    xyz[1, 3, 0] = float('nan')
    furthest_point_sample(xyz, 5)
    assert calls == ['_fps_compiled', '_fps_numpy']


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_fps_compiled_clouds_on_parallel_threads(monkeypatch, dtype):
    # With the threshold at 0 every cloud of the batch is sampled on its own
    # thread; the picks are those of the serial loops, cloud by cloud.
    pytest.importorskip('numba', reason='the compiled loop needs Numba '
                        '(requirements/optional.txt)')
    monkeypatch.setattr(fps_module, 'COMPILED_PARALLEL_MIN_UPDATES', 0)
    gen = torch.Generator().manual_seed(6)
    xyz = (torch.rand(5, 400, 3, generator=gen) * 40 - 20).to(dtype)
    coords = xyz.transpose(1, 2).contiguous()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel = fps_module._fps_compiled(coords, 90)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(parallel, fps_module._fps_numpy(coords, 90))
    assert torch.equal(parallel, furthest_point_sample_brute_force(xyz, 90))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_fps_compiled_loop_ties_and_duplicates(dtype):
    # The compiled loop finds the maximum on the distances' bits read as
    # integers: on a grid with repeated points (many equal distances, and
    # zeros once every distinct point is picked) it still picks the first
    # index of the largest value, as the brute force does.
    pytest.importorskip('numba', reason='the compiled loop needs Numba '
                        '(requirements/optional.txt)')
    gen = torch.Generator().manual_seed(8)
    grid = torch.randint(0, 4, (2, 90, 3), generator=gen).to(dtype)
    xyz = torch.cat([grid, grid[:, :30]], dim=1)  # 120 points, repeats
    distinct = min(len({tuple(p) for p in cloud.tolist()}) for cloud in xyz)
    num_samples = distinct + 5  # past the distinct points: zero distances
    coords = xyz.transpose(1, 2).contiguous()
    compiled = fps_module._fps_compiled(coords, num_samples)
    assert torch.equal(compiled,
                       furthest_point_sample_brute_force(xyz, num_samples))
    assert torch.equal(compiled, fps_module._fps_numpy(coords, num_samples))


def test_fps_half_precision_uses_the_torch_loop():
    gen = torch.Generator().manual_seed(5)
    xyz = torch.rand(1, 200, 3, generator=gen).half()
    coords = xyz.transpose(1, 2).contiguous()
    assert torch.equal(furthest_point_sample(xyz, 30),
                       fps_module._fps_torch(coords, 30))


def test_fps_non_finite_points_agree():
    xyz = torch.rand(2, 100, 3)
    xyz[0, 7, 1] = float('nan')
    xyz[1, 9, 2] = float('inf')
    coords = xyz.transpose(1, 2).contiguous()
    assert torch.equal(fps_module._fps_numpy(coords, 10),
                       fps_module._fps_torch(coords, 10))


def test_fps_ties_and_duplicates():
    # Duplicated points and integer coordinates: equal distances everywhere,
    # the first index of the maximum wins as in the brute force.
    gen = torch.Generator().manual_seed(4)
    xyz = torch.randint(0, 4, (2, 60, 3), generator=gen).float().repeat(
        1, 2, 1)
    expected = furthest_point_sample_brute_force(xyz, 40)
    assert torch.equal(furthest_point_sample(xyz, 40), expected)
    assert torch.equal(
        fps_module._fps_torch(xyz.transpose(1, 2).contiguous(), 40),
        expected)


def test_fps_without_numba_takes_the_numpy_loop(monkeypatch):
    # Numba is optional: without it the NumPy loop samples, identically.
    monkeypatch.setattr(fps_module, 'compiled_loop', lambda: None)
    gen = torch.Generator().manual_seed(7)
    xyz = torch.rand(2, 300, 3, generator=gen) * 10
    assert torch.equal(furthest_point_sample(xyz, 50),
                       furthest_point_sample_brute_force(xyz, 50))


def _cloud_kinds(gen: torch.Generator, num: int) -> dict:
    """Clouds (num, 3) on which skipping cells is easy to get wrong."""
    grid = torch.randint(0, 5, (num // 2, 3), generator=gen).float()
    centres = torch.rand(4, 1, 3, generator=gen) * 1000
    return {
        'uniform': torch.rand(num, 3, generator=gen) * torch.tensor(
            [20., 4., 30.]),
        # Far apart clusters: most cells skipped at most steps; float32
        # rounding of coordinates near 1000 is larger than the spread.
        'clusters': (centres + 0.01 * torch.randn(
            4, num // 4, 3, generator=gen)).reshape(-1, 3),
        # Repeated grid points: equal distances, zeros once every distinct
        # point is picked.
        'grid_repeats': torch.cat([grid, grid]),
        'plane': torch.cat([torch.rand(num, 2, generator=gen),
                            torch.zeros(num, 1)], 1),
        'one_point': torch.ones(num, 3),
        # Squares of the differences underflow in float32.
        'tiny': torch.rand(num, 3, generator=gen) * 1e-19,
    }


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_fps_cell_loop_picks_what_the_plain_loop_picks(monkeypatch, dtype):
    # The compiled loop that skips grid cells (clouds of CELL_MIN_POINTS
    # points or more; here every cloud) picks exactly the plain loop's
    # points, for several grid sizes, including past the distinct points.
    pytest.importorskip('numba', reason='the compiled loop needs Numba '
                        '(requirements/optional.txt)')
    fps_compiled = importlib.import_module('bpfn.ops.fps_compiled')
    monkeypatch.setattr(fps_compiled, 'CELL_MIN_POINTS', 0)
    gen = torch.Generator().manual_seed(11)
    for name, cloud in _cloud_kinds(gen, 600).items():
        coords = cloud.to(dtype).T.contiguous()
        xs, ys, zs = coords.numpy()
        for num_samples in (1, 2, 150, coords.shape[1]):
            expected = fps_module._fps_numpy(coords[None], num_samples)[0]
            for per_axis in (1, 3, fps_compiled.cells_per_axis(600), 12):
                order, starts = fps_compiled._grid_cells(xs, ys, zs,
                                                         per_axis)
                assert sorted(order.tolist()) == list(range(600))
                chosen = np.zeros(num_samples, dtype=np.int64)
                running = np.full(600, 1e10, dtype=xs.dtype)
                fps_compiled._sample_in_cells(xs, ys, zs, order, starts,
                                              running, chosen)
                assert chosen.tolist() == expected.tolist(), (
                    name, num_samples, per_axis)


def test_fps_cell_loop_runs_on_large_clouds(monkeypatch):
    # Clouds of CELL_MIN_POINTS points or more take the cell loop, smaller
    # ones the plain loop; both give the brute force's picks.
    pytest.importorskip('numba', reason='the compiled loop needs Numba '
                        '(requirements/optional.txt)')
    fps_compiled = importlib.import_module('bpfn.ops.fps_compiled')
    calls = []
    for name in ('_sample', '_sample_in_cells'):
        monkeypatch.setattr(
            fps_compiled, name,
            lambda *args, f=getattr(fps_compiled, name), name=name:
            calls.append(name) or f(*args))
    gen = torch.Generator().manual_seed(12)
    for num in (fps_compiled.CELL_MIN_POINTS - 1,
                fps_compiled.CELL_MIN_POINTS):
        xyz = torch.rand(1, num, 3, generator=gen) * 10
        assert torch.equal(furthest_point_sample(xyz, 40),
                           furthest_point_sample_brute_force(xyz, 40))
    assert calls == ['_sample', '_sample_in_cells']
