"""k-d trees of the CPU neighbour search: pykdtree where installed, else
SciPy's cKDTree.

Both give every query its ``k`` nearest points by exact float64 squared
distance, nearest first; :func:`~bpfn.ops.knn.knn_tree` ranks those
candidates with the dense search's float32 distances, so either backend
yields the same neighbours. pykdtree (optional, ``requirements/optional.txt``)
answers the searches of a BPF forward about 1.8x faster than cKDTree (its
queries took 83 instead of 148 ms per forward on 2 threads): its
queries run on an OpenMP pool that persists between calls, where cKDTree
starts Python threads on every call. Before each query the OpenMP runtime
bundled with pykdtree is set to torch's intra-op thread count, through
threadpoolctl; where that runtime cannot be found (and so its threads not
bounded) cKDTree is used. Where torch itself runs on GNU OpenMP and is
imported first (the Linux wheels; bpfn imports torch before pykdtree), the
queries run on torch's OpenMP runtime instead: the first runtime loaded
serves pykdtree's OpenMP calls too. There torch's thread count bounds them
directly (measured: after ``torch.set_num_threads(1)`` a query runs on one
thread, whatever pykdtree's own runtime is set to), and they use torch's
threads, no second pool.
"""
import functools
import os
from typing import List, Optional, Tuple

import numpy as np
from scipy.spatial import cKDTree

# Fewest queries of a cloud for which a cKDTree query runs on several
# threads: SciPy starts Python threads for every query, which costs more
# than it saves on fewer.
SCIPY_PARALLEL_MIN_QUERIES = 4096
# Points per leaf of a pykdtree (its default).
PYKDTREE_LEAF_SIZE = 16
# The process whose pykdtree OpenMP pool has started (None: none yet).
# GNU OpenMP's pool does not survive a fork: in a child forked after it
# started (a DataLoader worker, a multiprocessing pool), a pykdtree query
# never returns, so such a child queries SciPy trees instead.
_POOL_PROCESS: Optional[int] = None


class CloudTree:
    """A k-d tree of one cloud (N, 3), over a float64 copy of it."""

    #: The indexed points, (N, 3) float64, in their order.
    data: np.ndarray

    def query(self, points: np.ndarray, k: int,
              threads: int) -> Tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed points of each of (M, 3) ``points``,
        searched on at most ``threads`` threads.

        Returns:
            tuple[np.ndarray, np.ndarray]: Squared distances (M, k) float64
            and indices (M, k) int64, nearest first.
        """
        raise NotImplementedError


class ScipyCloudTree(CloudTree):
    """A :class:`scipy.spatial.cKDTree` of one cloud."""

    def __init__(self, points: np.ndarray) -> None:
        self.tree = cKDTree(points)
        self.data = self.tree.data

    def query(self, points: np.ndarray, k: int,
              threads: int) -> Tuple[np.ndarray, np.ndarray]:
        workers = threads if len(points) >= SCIPY_PARALLEL_MIN_QUERIES else 1
        dist, idx = self.tree.query(points, k=k, workers=workers)
        return dist.reshape(len(points), k)**2, idx.reshape(
            len(points), k).astype(np.int64, copy=False)


class PyKDCloudTree(CloudTree):
    """A pykdtree k-d tree of one cloud; its queries run on as many OpenMP
    threads as asked (in a process forked after the OpenMP pool started,
    on a SciPy tree of the same points)."""

    def __init__(self, points: np.ndarray) -> None:
        from pykdtree.kdtree import KDTree
        self.data = np.ascontiguousarray(points, dtype=np.float64)
        self.tree = KDTree(self.data, leafsize=PYKDTREE_LEAF_SIZE)

    def query(self, points: np.ndarray, k: int,
              threads: int) -> Tuple[np.ndarray, np.ndarray]:
        global _POOL_PROCESS
        if _pool_lost():  # built before the fork that lost the pool
            if getattr(self, '_fallback', None) is None:
                self._fallback = ScipyCloudTree(self.data)
            return self._fallback.query(points, k, threads)
        _POOL_PROCESS = os.getpid()
        for runtime in _pykdtree_runtimes():
            runtime.set_num_threads(threads)
        sq_dist, idx = self.tree.query(
            np.ascontiguousarray(points, dtype=np.float64), k=k,
            sqr_dists=True)
        return sq_dist.reshape(len(points), k), idx.reshape(
            len(points), k).astype(np.int64)


def _pool_lost() -> bool:
    """Whether this process was forked after pykdtree's pool started."""
    return _POOL_PROCESS not in (None, os.getpid())


@functools.lru_cache(maxsize=None)
def _pykdtree_runtimes() -> Tuple[object, ...]:
    """threadpoolctl controllers of the OpenMP runtimes pykdtree loaded
    (empty where pykdtree, threadpoolctl or such a runtime is missing)."""
    try:
        import pykdtree.kdtree  # noqa: F401 (loads its OpenMP runtime)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return ()
    return tuple(lib for lib in ThreadpoolController().lib_controllers
                 if lib.internal_api == 'openmp' and 'pykdtree' in
                 lib.filepath.replace('\\', '/').lower())


@functools.lru_cache(maxsize=None)
def tree_backend() -> Tuple[type, str]:
    """The tree class the search builds, and a line saying which and why."""
    missing: List[str] = []
    for module in ('pykdtree', 'threadpoolctl'):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        return ScipyCloudTree, ('SciPy cKDTree (' + ' and '.join(missing) +
                                ', optional, not installed)')
    if not _pykdtree_runtimes():
        return ScipyCloudTree, (
            'SciPy cKDTree (pykdtree is installed, but threadpoolctl finds '
            'no OpenMP runtime of it, so its threads could not be bounded)')
    return PyKDCloudTree, 'pykdtree (OpenMP, as many threads as torch)'


def build_tree(points: np.ndarray,
               backend: Optional[type] = None) -> CloudTree:
    """A k-d tree of one (N, 3) cloud, of :func:`tree_backend`'s class
    unless ``backend`` names one; a SciPy tree in a process forked after
    pykdtree's pool started (where a pykdtree query would hang)."""
    backend = backend or tree_backend()[0]
    if backend is PyKDCloudTree and _pool_lost():
        backend = ScipyCloudTree
    return backend(points)
