"""The farthest point sampling loop of one cloud, compiled with Numba.

Imported on first use by :func:`bpfn.ops.furthest_point_sample`; Numba
compiles the loop once per dtype and caches it on disk.
"""
import numba
import numpy as np

# The integers of the same width as each float type: the bits of
# non-negative finite floats, read as such integers, order as the floats.
_BITS = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


@numba.njit(nogil=True, cache=True)
def _sample(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
            dist_a: np.ndarray, dist_b: np.ndarray, bits_a: np.ndarray,
            bits_b: np.ndarray, chosen: np.ndarray) -> None:
    """The loop of :func:`sample_cloud`; ``bits_a`` / ``bits_b`` are the
    integer views of the running-minimum buffers ``dist_a`` / ``dist_b``.

    Step ``i`` reads the running minimum from one buffer and writes the
    updated one to the other: an unconditional store, which compiles to
    vector minima (an update in place compiles to masked stores, 2x
    slower). Its maximum and first index are found on the integer view,
    whose maximum compiles to vector instructions (a float maximum does
    not); distances are sums of squares, never -0, so the bits order
    exactly as the values.
    """
    farthest = 0
    chosen[0] = 0
    for i in range(1, chosen.shape[0]):
        cx, cy, cz = xs[farthest], ys[farthest], zs[farthest]
        old = dist_a if i % 2 else dist_b
        new = dist_b if i % 2 else dist_a
        bits = bits_b if i % 2 else bits_a
        for j in range(xs.shape[0]):
            dx = xs[j] - cx
            dy = ys[j] - cy
            dz = zs[j] - cz
            dist = dx * dx + dy * dy
            dist = dist + dz * dz
            last = old[j]
            new[j] = dist if dist < last else last
        best = bits[0]
        for j in range(1, bits.shape[0]):
            best = max(best, bits[j])
        farthest = 0
        while bits[farthest] != best:  # its first index
            farthest += 1
        chosen[i] = farthest


def sample_cloud(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                 min_dist: np.ndarray, chosen: np.ndarray) -> None:
    """Farthest point sampling of one cloud, filling ``chosen`` in place.

    The IEEE operations of the original operator, in its order: each step
    takes the squares of the differences to the last pick, sums them as
    ``(dx^2 + dy^2) + dz^2``, keeps the running minimum and picks the first
    index of its maximum. The compiled loop releases the GIL.

    Args:
        xs, ys, zs (np.ndarray): Finite coordinates, (N,) each, float32 or
            float64.
        min_dist (np.ndarray): Running minimum, (N,) of the same dtype, set
            to 1e10 (a work buffer: its final contents are unspecified).
        chosen (np.ndarray): Picks, (S,) int64, filled in place; the
            first is index 0.
    """
    bits = _BITS[min_dist.dtype]
    spare = min_dist.copy()
    _sample(xs, ys, zs, min_dist, spare, min_dist.view(bits),
            spare.view(bits), chosen)
