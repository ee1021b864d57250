"""Farthest point sampling."""
import numpy as np
import torch
from torch import Tensor

from .export import furthest_point_sample_export, use_export
from .neighbour_audit import current_audit
from .reference import use_reference
from .threads import cpu_threads

# Fewest values of a sampling step's tensors (B * N * 3) for which the torch
# loop uses more than one CPU thread.
FPS_PARALLEL_MIN_ELEMENTS = 2**20


def furthest_point_sample(xyz: Tensor, num_samples: int) -> Tensor:
    """Farthest point sampling with the original CUDA operator's semantics.

    Sampling starts at index 0, keeps each point's running minimum squared
    distance to the chosen set (initialised to 1e10) and picks the first
    index of its maximum. The loop runs over the samples; every step is
    vectorised over the batch and the points.

    On CPU (float32 / float64) the loop runs on NumPy views of the same
    memory: its per-call overhead is a fraction of a torch operator's, which
    dominates steps this small, and it runs on one thread (no
    synchronisation per step). Its arithmetic is the same IEEE operations
    in the same order (squares, then ``(dx^2 + dy^2) + dz^2``), so the
    samples are identical.

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
    if use_reference():
        return furthest_point_sample_reference(xyz, num_samples)
    if use_export():
        return furthest_point_sample_export(xyz, num_samples)
    with torch.no_grad():  # indices only: no graph to record
        coords = xyz.detach().transpose(1, 2).contiguous()  # B, 3, N
        if (coords.device.type == 'cpu'
                and coords.dtype in (torch.float32, torch.float64)):
            idx = _fps_numpy(coords, num_samples)
        else:
            idx = _fps_torch(coords, num_samples)
        audit = current_audit()
        if audit is not None:
            audit.compare_samples(
                idx, furthest_point_sample_export(xyz, num_samples))
    return idx


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
        # Six kernels a step: the centroid, its squared distances, the
        # running minimum and its first maximum.
        for _ in range(1, num_samples):
            centroid = torch.gather(coords, 2, farthest.expand(batch, 3, 1))
            torch.sub(coords, centroid, out=diff)
            torch.sum(diff.square_(), 1, out=dist)
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
        dist = torch.sum((xyz - centroid)**2, -1)
        min_dist = torch.minimum(min_dist, dist)
        farthest = torch.argmax(min_dist, -1)
        chosen[:, i] = farthest
    return chosen
