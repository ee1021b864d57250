"""Exact k-nearest-neighbour search, chunked so that memory stays bounded."""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

# Largest number of distance entries held at once by one chunk of queries
# (B * chunk * M). On CPU a chunk that stays in cache (2**20 float32 values,
# 4 MiB) is fastest; on GPU larger chunks (2**26 values, 256 MiB) keep the
# kernels busy.
CPU_MAX_ELEMENTS = 2**20
CUDA_MAX_ELEMENTS = 2**26


def default_max_elements(device: torch.device) -> int:
    """Chunk bound of :func:`knn` for a device."""
    return CPU_MAX_ELEMENTS if device.type == 'cpu' else CUDA_MAX_ELEMENTS


def square_distance(src: Tensor, dst: Tensor) -> Tensor:
    """Pairwise squared Euclidean distances, as the original computes them.

    The distances are ``|a|^2 + |b|^2 - 2 a.b`` with a batched matrix product,
    accumulated in the original's order. Computing them another way (such as
    ``((a - b) ** 2).sum(-1)``) rounds differently and can change which
    neighbour wins a near-tie.

    Args:
        src (Tensor): Query points, shape (B, N, 3).
        dst (Tensor): Reference points, shape (B, M, 3).

    Returns:
        Tensor: Squared distances, shape (B, N, M).
    """
    # Scaling by -2 is exact, so scaling the (B, N, 3) input instead of the
    # (B, N, M) product gives the same values for less work.
    dist = torch.matmul(-2 * src, dst.transpose(1, 2))
    dist += torch.sum(src**2, -1).unsqueeze(-1)
    dist += torch.sum(dst**2, -1).unsqueeze(1)
    return dist


def _chunk_size(batch: int, num_ref: int, max_elements: int) -> int:
    return max(1, max_elements // max(1, batch * num_ref))


def knn(k: int,
        ref: Tensor,
        query: Tensor,
        max_elements: Optional[int] = None,
        return_dist: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Indices of the ``k`` nearest reference points of every query point.

    The query points are processed in chunks so that at most
    ``max_elements`` distances exist at once, whatever the cloud sizes.

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).
        max_elements (int, optional): Bound on B * chunk * M distance
            entries held at once. Defaults to :func:`default_max_elements`.
        return_dist (bool): Also return the squared distances.
            Defaults to False.

    Returns:
        Tensor | tuple[Tensor, Tensor]: Indices into ``ref``, shape
        (B, S, K), int64 (and squared distances (B, S, K) when asked).
    """
    batch, num_query, _ = query.shape
    num_ref = ref.shape[1]
    if k > num_ref:
        raise ValueError(f'knn: asked for k={k} neighbours among only '
                         f'{num_ref} reference points')
    chunk = _chunk_size(batch, num_ref, max_elements
                        or default_max_elements(query.device))
    idx_chunks, dist_chunks = [], []
    for start in range(0, num_query, chunk):
        dist = square_distance(query[:, start:start + chunk], ref)
        values, idx = torch.topk(dist, k, dim=-1, largest=False, sorted=False)
        idx_chunks.append(idx)
        if return_dist:
            dist_chunks.append(values)
    idx = torch.cat(idx_chunks, dim=1) if len(idx_chunks) > 1 else \
        idx_chunks[0]
    if not return_dist:
        return idx
    dist = torch.cat(dist_chunks, dim=1) if len(dist_chunks) > 1 else \
        dist_chunks[0]
    return idx, dist


def knn_brute_force(k: int, ref: Tensor, query: Tensor) -> Tensor:
    """Reference kNN on ``((a - b) ** 2).sum(-1)`` with a full sort (tests)."""
    dist = ((query.unsqueeze(2) - ref.unsqueeze(1))**2).sum(-1)
    return torch.sort(dist, dim=-1, stable=True)[1][..., :k]


def self_knn(k: int, xyz: Tensor,
             max_elements: Optional[int] = None) -> Tensor:
    """``knn(k, xyz, xyz)``: neighbours of each point within its own cloud."""
    return knn(k, xyz, xyz, max_elements)
