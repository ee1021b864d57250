"""The farthest point sampling loop of one cloud, compiled with Numba.

Imported on first use by :func:`bpfn.ops.furthest_point_sample`; Numba
compiles the loop once per dtype and caches it on disk.
"""
import numba
import numpy as np


# Finite values only (the caller checks): the flags let the maximum be
# vectorised and change no result.
@numba.njit(nogil=True, cache=True, fastmath={'nnan', 'ninf', 'nsz'})
def largest(values: np.ndarray):
    """Largest value of a 1-D array of finite values."""
    best = values[0]
    for j in range(1, values.shape[0]):
        best = max(best, values[j])
    return best


@numba.njit(nogil=True, cache=True)
def sample_cloud(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                 min_dist: np.ndarray, chosen: np.ndarray) -> None:
    """Farthest point sampling of one cloud, in place.

    The IEEE operations of the original operator, in its order: each step
    takes the squares of the differences to the last pick, sums them as
    ``(dx^2 + dy^2) + dz^2``, keeps the running minimum and picks the first
    index of its maximum. Releases the GIL.

    Args:
        xs, ys, zs (np.ndarray): Finite coordinates, (N,) each.
        min_dist (np.ndarray): Running minimum, (N,), set to 1e10.
        chosen (np.ndarray): Picks, (S,) int64, filled in place; the
            first is index 0.
    """
    farthest = 0
    chosen[0] = 0
    for i in range(1, chosen.shape[0]):
        cx, cy, cz = xs[farthest], ys[farthest], zs[farthest]
        for j in range(xs.shape[0]):
            dx = xs[j] - cx
            dy = ys[j] - cy
            dz = zs[j] - cz
            dist = dx * dx + dy * dy
            dist = dist + dz * dz
            old = min_dist[j]
            min_dist[j] = dist if dist < old else old
        best = largest(min_dist)
        farthest = 0
        while min_dist[farthest] != best:  # its first index
            farthest += 1
        chosen[i] = farthest
