"""Farthest point sampling."""
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor

from .export import furthest_point_sample_export, use_export
from .neighbour_audit import current_audit
from .reference import use_reference
from .search_replay import recorded_call
from .threads import cpu_threads

# Fewest values of a sampling step's tensors (B * N * 3) for which the torch
# loop uses more than one CPU thread.
FPS_PARALLEL_MIN_ELEMENTS = 2**20
# Fewest point updates (N * S per cloud) for which the compiled loop samples
# the clouds of a batch on parallel threads; below, starting the threads
# costs more than it saves.
COMPILED_PARALLEL_MIN_UPDATES = 2**22


def furthest_point_sample(xyz: Tensor, num_samples: int) -> Tensor:
    """Farthest point sampling with the original CUDA operator's semantics.

    Sampling starts at index 0, keeps each point's running minimum squared
    distance to the chosen set (initialised to 1e10) and picks the first
    index of its maximum. The loop runs over the samples; every step is
    vectorised over the batch and the points.

    On CPU (float32 / float64) the loop runs on NumPy views of the same
    memory (:func:`_fps_numpy`), whose per-call overhead is a fraction of a
    torch operator's; where Numba is installed (optional: it adds about
    0.1 GiB to the process), finite clouds take a compiled loop instead
    (:func:`compiled_loop`), one cloud per thread on large clouds; on
    clouds of 4096 points or more it also skips, at each step, the grid
    cells that the new pick is too far from to change. Two clouds of 8192
    points, 2048 samples, 2 threads: 7.7x (the benchmark's synthetic
    clouds) to 12x (the reference scene) faster than the NumPy loop. All
    do the same IEEE operations in the same order (squares, then
    ``(dx^2 + dy^2) + dz^2``, a running minimum, the first index of its
    maximum) as the torch loop of other devices, so the samples are
    identical.

    Args:
        xyz (Tensor): Points, shape (B, N, 3).
        num_samples (int): Number of points to pick, ``S``.

    Returns:
        Tensor: Indices into N, shape (B, S), int64.
    """
    batch, num_points, _ = xyz.shape
    if num_samples > num_points:
        raise ValueError(f'furthest_point_sample: cannot pick {num_samples} '
                         f'points from a cloud of {num_points}')
    return recorded_call('sample', (xyz, ), dict(num_samples=num_samples),
                         lambda: _sample(xyz, num_samples))


def _sample(xyz: Tensor, num_samples: int) -> Tensor:
    """The sampling :func:`furthest_point_sample` runs: the reference or
    export path where switched on, else the loop for the device."""
    if use_reference():
        return furthest_point_sample_reference(xyz, num_samples)
    if use_export():
        return furthest_point_sample_export(xyz, num_samples)
    with torch.no_grad():  # indices only: no graph to record
        coords = xyz.detach().transpose(1, 2).contiguous()  # B, 3, N
        if (coords.device.type == 'cpu'
                and coords.dtype in (torch.float32, torch.float64)):
            if compiled_loop() is not None and bool(
                    torch.isfinite(coords).all()):
                idx = _fps_compiled(coords, num_samples)
            else:
                idx = _fps_numpy(coords, num_samples)
        else:
            idx = _fps_torch(coords, num_samples)
        audit = current_audit()
        if audit is not None:
            audit.compare_samples(
                idx, furthest_point_sample_export(xyz, num_samples))
    return idx


@functools.lru_cache(maxsize=None)
def compiled_loop() -> Optional[Callable]:
    """The compiled sampling loop of one cloud
    (:func:`bpfn.ops.fps_compiled.sample_cloud`), or None without Numba.

    Imported on first use, so that importing bpfn does not load Numba.
    Numba is optional (``requirements/optional.txt``).
    """
    try:
        from .fps_compiled import sample_cloud
    except ImportError:  # Numba is not installed: the NumPy loop
        return None
    return sample_cloud


def _fps_compiled(coords: Tensor, num_samples: int) -> Tensor:
    """The sampling loop on (B, 3, N) finite CPU coordinates, compiled.

    Large clouds of a batch are sampled on parallel threads (the compiled
    loop releases the GIL), as many as torch's intra-op threads.
    """
    sample_cloud = compiled_loop()
    points = coords.numpy()
    batch, _, num_points = points.shape
    min_dist = np.full((batch, num_points), 1e10, dtype=points.dtype)
    chosen = np.zeros((batch, num_samples), dtype=np.int64)

    def sample(i: int) -> None:
        sample_cloud(points[i, 0], points[i, 1], points[i, 2], min_dist[i],
                     chosen[i])

    workers = min(batch, torch.get_num_threads())
    if workers > 1 and \
            num_points * num_samples >= COMPILED_PARALLEL_MIN_UPDATES:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(sample, range(batch)))
    else:
        for i in range(batch):
            sample(i)
    return torch.from_numpy(chosen)


def _fps_numpy(coords: Tensor, num_samples: int) -> Tensor:
    """The sampling loop on (B, 3, N) CPU coordinates, in NumPy."""
    points = coords.numpy()
    batch, _, num_points = points.shape
    min_dist = np.full((batch, num_points), 1e10, dtype=points.dtype)
    diff = np.empty_like(points)
    dist = np.empty_like(min_dist)
    # Flat positions of the x, y, z of point 0 of each cloud: the chosen
    # centroids are taken from them with one ``take`` per step.
    corner = (np.arange(batch)[:, None] * 3 + np.arange(3)) * num_points
    take = points.reshape(-1).take
    diff_x, diff_y, diff_z = diff[:, 0], diff[:, 1], diff[:, 2]
    farthest = np.zeros((batch, 1), dtype=np.int64)
    chosen = np.zeros((batch, num_samples), dtype=np.int64)
    for i in range(1, num_samples):
        np.subtract(points, take(corner + farthest)[:, :, None], out=diff)
        np.multiply(diff, diff, out=diff)
        np.add(diff_x, diff_y, out=dist)
        np.add(dist, diff_z, out=dist)
        np.minimum(min_dist, dist, out=min_dist)
        farthest = min_dist.argmax(axis=1)[:, None]
        chosen[:, i] = farthest[:, 0]
    return torch.from_numpy(chosen)


def _fps_torch(coords: Tensor, num_samples: int) -> Tensor:
    """The sampling loop on (B, 3, N) coordinates, in torch."""
    batch, _, num_points = coords.shape
    device = coords.device
    # A long serial loop of small steps: on CPU, more threads would only add
    # a synchronisation to every step (and stall it when the cores are
    # busy), so small clouds are sampled on one thread.
    serial = (device.type == 'cpu'
              and batch * num_points * 3 < FPS_PARALLEL_MIN_ELEMENTS)
    with cpu_threads(1 if serial else None):
        # 1e10, or the largest value of a half-precision type.
        start = min(1e10, torch.finfo(coords.dtype).max)
        min_dist = torch.full((batch, num_points), start, dtype=coords.dtype,
                              device=device)
        # Buffers reused by every step.
        diff = torch.empty_like(coords)
        dist = torch.empty_like(min_dist)
        farthest = torch.zeros(batch, 1, 1, dtype=torch.long, device=device)
        chosen = [farthest.view(batch)]
        diff_x, diff_y, diff_z = diff[:, 0], diff[:, 1], diff[:, 2]
        # Seven kernels a step: the centroid, its squared distances, the
        # running minimum and its first maximum. The distances are summed
        # element-wise, ``(dx^2 + dy^2) + dz^2``, as the CPU loops sum them:
        # a reduction over the three coordinates leaves the order to the
        # device's kernel (on an H200, at batch 8, a reduction here and one
        # over the last dimension in the reference loop picked different
        # samples).
        for _ in range(1, num_samples):
            centroid = torch.gather(coords, 2, farthest.expand(batch, 3, 1))
            torch.sub(coords, centroid, out=diff)
            diff.square_()
            torch.add(diff_x, diff_y, out=dist)
            dist.add_(diff_z)
            torch.minimum(min_dist, dist, out=min_dist)
            farthest = torch.argmax(min_dist, dim=-1).view(batch, 1, 1)
            chosen.append(farthest.view(batch))
    return torch.stack(chosen, dim=1)


@torch.no_grad()
def furthest_point_sample_reference(xyz: Tensor, num_samples: int) -> Tensor:
    """The plain loop of the original operator, vectorised over the batch.

    The same samples as :func:`furthest_point_sample`, one step at a time
    with fresh tensors (see :func:`bpfn.ops.reference_algorithms`).

    Args:
        xyz (Tensor): Points, shape (B, N, 3).
        num_samples (int): Number of points to pick, ``S``.

    Returns:
        Tensor: Indices into N, shape (B, S), int64.
    """
    batch, num_points, _ = xyz.shape
    batch_idx = torch.arange(batch, device=xyz.device)
    chosen = torch.zeros(batch, num_samples, dtype=torch.long,
                         device=xyz.device)
    min_dist = torch.full((batch, num_points), 1e10, dtype=xyz.dtype,
                          device=xyz.device)
    farthest = torch.zeros(batch, dtype=torch.long, device=xyz.device)
    for i in range(1, num_samples):
        centroid = xyz[batch_idx, farthest].view(batch, 1, 3)
        diff = (xyz - centroid)**2
        # (dx^2 + dy^2) + dz^2, the original operator's order: a sum over
        # the last dimension would leave it to the device's kernel.
        dist = (diff[..., 0] + diff[..., 1]) + diff[..., 2]
        min_dist = torch.minimum(min_dist, dist)
        farthest = torch.argmax(min_dist, -1)
        chosen[:, i] = farthest
    return chosen
