import os
import signal
import sys
import time

import numpy as np
import pytest

from bpfn.ops import kd_trees
from bpfn.ops.kd_trees import (PyKDCloudTree, ScipyCloudTree, build_tree,
                               tree_backend)

BACKENDS = [ScipyCloudTree, PyKDCloudTree]


def backend_available(backend: type) -> bool:
    return backend is ScipyCloudTree or tree_backend()[0] is backend


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('threads', [1, 2])
def test_tree_query_is_the_exact_float64_search(backend, threads):
    if not backend_available(backend):
        pytest.skip(f'{backend.__name__}: {tree_backend()[1]}')
    rng = np.random.default_rng(0)
    points = (rng.random((3000, 3)) * 40 - 20).astype(np.float32)
    query = (rng.random((700, 3)) * 40 - 20).astype(np.float32)
    tree = build_tree(points, backend)
    assert isinstance(tree, backend)
    assert tree.data.dtype == np.float64
    assert np.array_equal(tree.data, points.astype(np.float64))
    sq_dist, idx = tree.query(query, 11, threads)
    assert sq_dist.shape == idx.shape == (700, 11)
    assert idx.dtype == np.int64 and sq_dist.dtype == np.float64
    # The squared float64 distances of the 11 nearest, nearest first.
    full = ((query[:, None].astype(np.float64) -
             points[None].astype(np.float64))**2).sum(-1)
    expected = np.sort(full, axis=1)[:, :11]
    assert np.allclose(sq_dist, expected, rtol=1e-12, atol=0)
    assert np.allclose(np.take_along_axis(full, idx, 1), sq_dist,
                       rtol=1e-12, atol=0)
    assert (np.diff(sq_dist, axis=1) >= 0).all()


def test_pykdtree_threads_follow_the_request():
    if tree_backend()[0] is not PyKDCloudTree:
        pytest.skip(tree_backend()[1])
    runtimes = kd_trees._pykdtree_runtimes()
    assert runtimes
    tree = build_tree(np.random.default_rng(1).random((500, 3)))
    for threads in (1, 2, 1):
        tree.query(np.zeros((10, 3)), 4, threads)
        assert [r.get_num_threads() for r in runtimes] == [threads] * len(
            runtimes)


def test_backends_give_the_same_neighbours():
    if tree_backend()[0] is not PyKDCloudTree:
        pytest.skip(tree_backend()[1])
    rng = np.random.default_rng(2)
    points = rng.random((5000, 3)).astype(np.float32)
    query = rng.random((5000, 3)).astype(np.float32)
    scipy = build_tree(points, ScipyCloudTree).query(query, 36, 2)
    pykd = build_tree(points, PyKDCloudTree).query(query, 36, 2)
    assert np.array_equal(scipy[1], pykd[1])
    assert np.allclose(scipy[0], pykd[0], rtol=1e-12, atol=0)


def test_without_pykdtree_scipy_is_used(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pykdtree', None)
    tree_backend.cache_clear()
    kd_trees._pykdtree_runtimes.cache_clear()
    try:
        backend, line = tree_backend()
        assert backend is ScipyCloudTree
        assert line == ('SciPy cKDTree (pykdtree, optional, not '
                        'installed)')
        assert isinstance(build_tree(np.zeros((4, 3))), ScipyCloudTree)
    finally:
        monkeypatch.undo()
        tree_backend.cache_clear()
        kd_trees._pykdtree_runtimes.cache_clear()


def test_pykdtree_without_its_runtime_is_not_used(monkeypatch):
    monkeypatch.setattr(kd_trees, '_pykdtree_runtimes', lambda: ())
    tree_backend.cache_clear()
    try:
        backend, line = tree_backend()
        if 'not installed' in line:
            pytest.skip(line)
        assert backend is ScipyCloudTree
        assert 'no OpenMP runtime' in line
    finally:
        monkeypatch.undo()
        tree_backend.cache_clear()


def test_scipy_tree_threads_bounded_on_few_queries(monkeypatch):
    tree = build_tree(np.random.default_rng(3).random((100, 3)),
                      ScipyCloudTree)
    seen = []
    query = tree.tree.query

    def spy(points, k, workers):
        seen.append(workers)
        return query(points, k=k, workers=workers)

    monkeypatch.setattr(tree, 'tree', type('T', (), {'query': staticmethod(
        spy)})())
    few = np.zeros((kd_trees.SCIPY_PARALLEL_MIN_QUERIES - 1, 3))
    many = np.zeros((kd_trees.SCIPY_PARALLEL_MIN_QUERIES, 3))
    tree.query(few, 2, 2)
    tree.query(many, 2, 2)
    assert seen == [1, 2]


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs os.fork')
def test_pykdtree_queries_in_a_forked_child_return(monkeypatch):
    """GNU OpenMP's pool hangs a child forked after it started; the child's
    queries go to SciPy and give the same neighbours."""
    if tree_backend()[0] is not PyKDCloudTree:
        pytest.skip(tree_backend()[1])
    rng = np.random.default_rng(4)
    points, query = rng.random((2000, 3)), rng.random((3000, 3))
    tree = build_tree(points)
    expected = tree.query(query, 8, 2)  # the pool has started
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only on the same neighbours
        try:
            same = np.array_equal(tree.query(query, 8, 2)[1], expected[1])
            fresh = build_tree(points)  # built in the child: SciPy's
            ok = (same and isinstance(fresh, ScipyCloudTree)
                  and np.array_equal(fresh.query(query, 8, 1)[1],
                                     expected[1]))
            os._exit(0 if ok else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail('a pykdtree query in a forked child did not return')
