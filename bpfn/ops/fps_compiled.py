"""The farthest point sampling loop of one cloud, compiled with Numba.

Imported on first use by :func:`bpfn.ops.furthest_point_sample`; Numba
compiles the loops once per dtype and caches them on disk.
"""
import numba
import numpy as np

# The integers of the same width as each float type: the bits of
# non-negative finite floats, read as such integers, order as the floats.
_BITS = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}
# Fewest points of a cloud for which the loop skips the cells that a step
# cannot change (:func:`_sample_in_cells`); smaller clouds take the plain
# loop, as fast there.
CELL_MIN_POINTS = 4096
# Points per cell the grid of :func:`_sample_in_cells` aims at, on average
# over its whole box.
POINTS_PER_CELL = 64
# Relative margin of the cell test: a float distance of any point of a cell
# is at least (1 - CELL_MARGIN) times the exact distance of the cell's box,
# since it rounds by at most 6 units in the last place of float32 (about
# 4e-7); 1e-6 covers that for float32 and float64 alike.
CELL_MARGIN = 1e-6
# Smallest box distance the cell test trusts above a zero minimum: below,
# squares of tiny differences could underflow and round by more.
CELL_MIN_BOUND = 1e-30


@numba.njit(nogil=True, cache=True, inline='always')
def _distance(x, y, z, px, py, pz):
    """Squared distance of (x, y, z) to (px, py, pz) in the original
    operator's order: the squares, then ``(dx^2 + dy^2) + dz^2``."""
    dx = x - px
    dy = y - py
    dz = z - pz
    dist = dx * dx + dy * dy
    return dist + dz * dz


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
            dist = _distance(xs[j], ys[j], zs[j], cx, cy, cz)
            last = old[j]
            new[j] = dist if dist < last else last
        best = bits[0]
        for j in range(1, bits.shape[0]):
            best = max(best, bits[j])
        farthest = 0
        while bits[farthest] != best:  # its first index
            farthest += 1
        chosen[i] = farthest


@numba.njit(nogil=True, cache=True)
def _grid_cells(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                per_axis: int) -> tuple:
    """The points grouped by the cell of a ``per_axis``^3 grid over their
    box that holds them.

    Returns:
        tuple: ``order`` (N,), the point indices cell by cell, ascending
        within each cell (a stable counting sort); ``starts`` (C + 1,), where
        each of the C non-empty cells begins in ``order``.
    """
    num = xs.shape[0]
    lows = np.array([xs.min(), ys.min(), zs.min()], dtype=np.float64)
    spans = np.array([xs.max(), ys.max(), zs.max()],
                     dtype=np.float64) - lows
    cell = np.empty(num, dtype=np.int64)
    counts = np.zeros(per_axis**3 + 1, dtype=np.int64)
    for j in range(num):
        index = 0
        for axis, value in enumerate((xs[j], ys[j], zs[j])):
            pos = 0
            if spans[axis] > 0:
                pos = min(per_axis - 1, int((value - lows[axis]) /
                                            spans[axis] * per_axis))
            index = index * per_axis + pos
        cell[j] = index
        counts[index + 1] += 1
    for c in range(per_axis**3):
        counts[c + 1] += counts[c]
    order = np.empty(num, dtype=np.int64)
    fill = counts[:-1].copy()
    for j in range(num):
        order[fill[cell[j]]] = j
        fill[cell[j]] += 1
    starts = np.empty(per_axis**3 + 1, dtype=np.int64)
    used = 0
    for c in range(per_axis**3):
        if counts[c + 1] > counts[c]:
            starts[used] = counts[c]
            used += 1
    starts[used] = num
    return order, starts[:used + 1].copy()


@numba.njit(nogil=True, cache=True)
def _sample_in_cells(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                     order: np.ndarray, starts: np.ndarray,
                     running: np.ndarray, chosen: np.ndarray) -> None:
    """The loop of :func:`_sample`, skipping cells a step cannot change.

    The points are kept cell by cell (``order`` and ``starts`` from
    :func:`_grid_cells`; ``running``, their running minima in that order,
    set to 1e10), and each cell keeps its box, the largest running
    minimum of its points and the first index holding it. A step skips a
    cell when the squared distance from the new pick to the cell's box
    (float64), less ``CELL_MARGIN``, is at least that largest minimum (and
    at least ``CELL_MIN_BOUND``, unless the minimum is zero): every point's
    float distance is then at least its running minimum, so the minimum
    keeps its value, bit for bit. The other cells are updated
    with the operations of :func:`_sample`, in its order; the pick is the
    cell maximum that is largest, the lowest index among equal ones, which
    is the first index of the maximum over the whole cloud.
    """
    num_cells = starts.shape[0] - 1
    cx = xs[order]
    cy = ys[order]
    cz = zs[order]
    low = np.empty((num_cells, 3))
    high = np.empty((num_cells, 3))
    cell_max = np.full(num_cells, 1e10, dtype=xs.dtype)
    cell_arg = np.empty(num_cells, dtype=np.int64)
    for c in range(num_cells):
        begin, end = starts[c], starts[c + 1]
        low[c, 0], high[c, 0] = cx[begin:end].min(), cx[begin:end].max()
        low[c, 1], high[c, 1] = cy[begin:end].min(), cy[begin:end].max()
        low[c, 2], high[c, 2] = cz[begin:end].min(), cz[begin:end].max()
        cell_arg[c] = order[begin]
    farthest = 0
    chosen[0] = 0
    for i in range(1, chosen.shape[0]):
        px, py, pz = xs[farthest], ys[farthest], zs[farthest]
        for c in range(num_cells):
            gx = max(0.0, low[c, 0] - px, px - high[c, 0])
            gy = max(0.0, low[c, 1] - py, py - high[c, 1])
            gz = max(0.0, low[c, 2] - pz, pz - high[c, 2])
            bound = (gx * gx + gy * gy + gz * gz) * (1.0 - CELL_MARGIN)
            if bound >= cell_max[c] and (cell_max[c] == 0
                                         or bound >= CELL_MIN_BOUND):
                continue
            begin, end = starts[c], starts[c + 1]
            best = -1.0  # below every distance: the first point sets it
            where = begin
            for j in range(begin, end):
                dist = _distance(cx[j], cy[j], cz[j], px, py, pz)
                last = running[j]
                value = dist if dist < last else last
                running[j] = value
                if value > best:
                    best = value
                    where = j
            cell_max[c] = best
            cell_arg[c] = order[where]
        best = cell_max[0]
        farthest = cell_arg[0]
        for c in range(1, num_cells):
            if cell_max[c] > best or (cell_max[c] == best
                                      and cell_arg[c] < farthest):
                best = cell_max[c]
                farthest = cell_arg[c]
        chosen[i] = farthest


def cells_per_axis(num_points: int) -> int:
    """Cells per axis of the grid of :func:`_sample_in_cells`:
    about ``POINTS_PER_CELL`` points per cell of the box."""
    return max(1, round((num_points / POINTS_PER_CELL)**(1 / 3)))


def sample_cloud(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                 min_dist: np.ndarray, chosen: np.ndarray) -> None:
    """Farthest point sampling of one cloud, filling ``chosen`` in place.

    The IEEE operations of the original operator, in its order: each step
    takes the squares of the differences to the last pick, sums them as
    ``(dx^2 + dy^2) + dz^2``, keeps the running minimum and picks the first
    index of its maximum. Clouds of at least ``CELL_MIN_POINTS`` points
    skip, at each step, the grid cells whose points the pick is too far
    from to change (:func:`_sample_in_cells`): the same samples, about 3x
    faster at 8192 points and 2048 samples. The compiled loops release the
    GIL.

    Args:
        xs, ys, zs (np.ndarray): Finite coordinates, (N,) each, float32 or
            float64.
        min_dist (np.ndarray): Running minimum, (N,) of the same dtype, set
            to 1e10 (a work buffer: its final contents are unspecified).
        chosen (np.ndarray): Picks, (S,) int64, filled in place; the
            first is index 0.
    """
    if xs.shape[0] >= CELL_MIN_POINTS:
        order, starts = _grid_cells(xs, ys, zs, cells_per_axis(xs.shape[0]))
        # All of min_dist is 1e10: in cell order as in any other.
        _sample_in_cells(xs, ys, zs, order, starts, min_dist, chosen)
        return
    bits = _BITS[min_dist.dtype]
    spare = min_dist.copy()
    _sample(xs, ys, zs, min_dist, spare, min_dist.view(bits),
            spare.view(bits), chosen)
