"""Farthest point sampling in plain PyTorch."""
import torch
from torch import Tensor


def furthest_point_sample(xyz: Tensor, num_samples: int) -> Tensor:
    """Farthest point sampling with the original CUDA operator's semantics.

    Sampling starts at index 0, keeps each point's running minimum squared
    distance to the chosen set (initialised to 1e10) and picks the first
    index of its maximum. The loop runs over the samples; every step is
    vectorised over the batch and the points.

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
    device = xyz.device
    with torch.no_grad():  # indices only: no graph to record
        coords = xyz.detach().transpose(1, 2).contiguous()  # B, 3, N
        flat = xyz.detach().reshape(batch * num_points, 3)
        offsets = torch.arange(batch, device=device) * num_points
        min_dist = torch.full((batch, num_points), 1e10, dtype=xyz.dtype,
                              device=device)
        # Buffers reused by every step.
        diff = torch.empty_like(coords)
        dist = torch.empty_like(min_dist)
        chosen = torch.zeros(batch, num_samples, dtype=torch.long,
                             device=device)
        farthest = torch.zeros(batch, dtype=torch.long, device=device)
        for i in range(1, num_samples):
            centroid = flat.index_select(0, farthest + offsets)
            torch.sub(coords, centroid.unsqueeze(-1), out=diff)
            torch.sum(diff.square_(), 1, out=dist)
            torch.minimum(min_dist, dist, out=min_dist)
            farthest = torch.argmax(min_dist, dim=-1)
            chosen[:, i] = farthest
    return chosen


def furthest_point_sample_brute_force(xyz: Tensor,
                                      num_samples: int) -> Tensor:
    """Readable per-sample reference implementation (for tests)."""
    out = []
    for cloud in xyz:
        chosen = [0]
        dist = torch.full((cloud.shape[0], ), 1e10, dtype=cloud.dtype)
        for _ in range(num_samples - 1):
            dist = torch.minimum(dist, ((cloud - cloud[chosen[-1]])**2).sum(-1))
            chosen.append(int(torch.argmax(dist)))
        out.append(torch.tensor(chosen))
    return torch.stack(out)
