"""Exact k-nearest-neighbour search, chunked so that memory stays bounded."""
import bisect
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .chunking import point_chunks
from .export import EXPORT_MAX_ELEMENTS, use_export
from .neighbour_audit import current_audit
from .point_blocks import PointBlocks, all_finite, cloud_blocks
from .reference import use_reference

# Largest number of distance entries held at once by one chunk of queries
# (B * chunk * M). On CPU a chunk that stays in cache (2**20 float32 values,
# 4 MiB) is fastest; on GPU larger chunks (2**26 values, 256 MiB) keep the
# kernels busy.
CPU_MAX_ELEMENTS = 2**20
CUDA_MAX_ELEMENTS = 2**26

# Fewest rows and columns of the distance products: BLAS libraries round
# products of fewer rows or columns (or of a batch of one) differently.
MIN_PRODUCT_ROWS = 64
MIN_PRODUCT_COLS = 64


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
    num = src.shape[1]
    if 0 < num < MIN_PRODUCT_ROWS:
        # BLAS libraries use other kernels, which round differently, for
        # products of very few rows; padding keeps the usual one.
        src = torch.cat([src, src[:, :1].expand(-1, MIN_PRODUCT_ROWS - num,
                                                -1)], dim=1)
    # Scaling by -2 is exact, so scaling the (B, N, 3) input instead of the
    # (B, N, M) product gives the same values for less work.
    dist = torch.matmul(-2 * src, dst.transpose(1, 2))
    dist += torch.sum(src**2, -1).unsqueeze(-1)
    dist += torch.sum(dst**2, -1).unsqueeze(1)
    return dist[:, :num]


# Below this many distance entries (S * M per cloud) the dense search is
# cheaper than sorting the clouds into blocks.
BLOCKED_MIN_PAIRS = 2**22
# Largest number of points per query block and per reference block of the
# blocked search, and the reference points (in units of k) that bound a query
# block's search radius.
QUERY_BLOCK_SIZE = 16
REF_BLOCK_SIZE = 16
NEAR_FACTOR = 2
# Each query of a block ranks only the candidates within its own bound,
# in runs of rows whose numbers of candidate blocks grow by at most this
# factor (each run is padded to its largest).
RUN_GROWTH = 1.25
# Up to this many smallest values of a row are found by passes of ``min``
# (each masking its pick) instead of ``topk``: several times faster on CPU
# for so few.
SMALL_K = 5


def knn(k: int,
        ref: Tensor,
        query: Tensor,
        max_elements: Optional[int] = None,
        return_dist: bool = False,
        method: str = 'auto') -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Indices of the ``k`` nearest reference points of every query point.

    Two searches give the same neighbours:

    - ``'dense'`` computes every query-reference distance, in chunks of
      queries so that at most ``max_elements`` distances exist at once.
    - ``'blocked'`` cuts both clouds into spatially compact blocks and only
      computes the distances between blocks that can hold a neighbour (see
      :func:`knn_blocked`). Its distance values are bitwise the dense ones
      and a query whose ``k``-th distance ties with the next one is searched
      densely, so the neighbour sets are equal.

    ``'auto'`` takes the blocked search for large clouds on CPU and the dense
    one otherwise (a GPU is faster on the dense matrix).

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).
        max_elements (int, optional): Bound on the distance entries held at
            once. Defaults to :func:`default_max_elements`.
        return_dist (bool): Also return the squared distances.
            Defaults to False.
        method (str): ``'auto'``, ``'dense'`` or ``'blocked'``.
            Defaults to ``'auto'``.

    Returns:
        Tensor | tuple[Tensor, Tensor]: Indices into ``ref``, shape
        (B, S, K), int64 (and squared distances (B, S, K), without
        gradient, when asked).
    """
    num_query, num_ref = query.shape[1], ref.shape[1]
    if k > num_ref:
        raise ValueError(f'knn: asked for k={k} neighbours among only '
                         f'{num_ref} reference points')
    if method not in ('auto', 'dense', 'blocked'):
        raise ValueError(f"knn: unknown method {method!r}, expected 'auto', "
                         "'dense' or 'blocked'")
    with torch.no_grad():  # indices only: no graph to record
        ref, query = ref.detach(), query.detach()
        if use_reference():
            idx, dist = knn_reference(k, ref, query)
            return (idx, dist) if return_dist else idx
        if use_export():
            idx, dist = knn_export(k, ref, query, max_elements)
            return (idx, dist) if return_dist else idx
        max_elements = max_elements or default_max_elements(query.device)
        if method == 'auto':
            blocked = (query.device.type == 'cpu'
                       and num_query * num_ref >= BLOCKED_MIN_PAIRS
                       and num_ref >= 4 * k)
            method = 'blocked' if blocked else 'dense'
        if method == 'blocked':
            idx, dist = knn_blocked(k, ref, query, max_elements)
        else:
            idx, dist = knn_dense(k, ref, query, max_elements)
        audit = current_audit()
        if audit is not None:
            audit.compare_knn(idx, dist, *knn_export(k, ref, query))
    return (idx, dist) if return_dist else idx


def knn_dense(k: int,
              ref: Tensor,
              query: Tensor,
              max_elements: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Dense search: top-k of every query's full distance row.

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).
        max_elements (int, optional): Bound on B * chunk * M distances held
            at once. Defaults to :func:`default_max_elements`.

    Returns:
        tuple[Tensor, Tensor]: Indices (B, S, K) and squared distances
        (B, S, K).
    """
    batch, num_query, _ = query.shape
    max_elements = max_elements or default_max_elements(query.device)
    idx_chunks, dist_chunks = [], []
    for part in point_chunks(num_query, batch * ref.shape[1], max_elements):
        dist = square_distance(query[:, part], ref)
        values, idx = torch.topk(dist, k, dim=-1, largest=False, sorted=False)
        idx_chunks.append(idx)
        dist_chunks.append(values)
    if len(idx_chunks) == 1:
        return idx_chunks[0], dist_chunks[0]
    return torch.cat(idx_chunks, dim=1), torch.cat(dist_chunks, dim=1)


def knn_export(k: int,
               ref: Tensor,
               query: Tensor,
               max_elements: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """The dense search as an ONNX graph computes it (see
    :func:`bpfn.ops.export_algorithms`).

    The distances are :func:`square_distance`'s; of equal distances the
    lower reference index is taken first, as ONNX ``TopK`` specifies (the
    blocked search of the CPU path, whose data-dependent blocks cannot be
    traced, is left out). While tracing, ``topk`` records that operator;
    run eagerly, a stable sort computes the same neighbours in the same
    order, so that the exported graph can be checked exactly.

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).
        max_elements (int, optional): Bound on B * chunk * M distances held
            at once. Defaults to ``EXPORT_MAX_ELEMENTS``: a few large
            chunks.

    Returns:
        tuple[Tensor, Tensor]: Indices (B, S, K), nearest first, and
        squared distances (B, S, K).
    """
    batch = query.shape[0]
    max_elements = max_elements or EXPORT_MAX_ELEMENTS
    tracing = torch.jit.is_tracing()
    idx_chunks, dist_chunks = [], []
    for part in point_chunks(query.shape[1], batch * ref.shape[1],
                             max_elements):
        dist = square_distance(query[:, part], ref)
        if tracing:
            values, idx = torch.topk(dist, k, dim=-1, largest=False,
                                     sorted=True)
        else:
            values, idx = torch.sort(dist, dim=-1, stable=True)
            values, idx = values[..., :k], idx[..., :k]
        idx_chunks.append(idx)
        dist_chunks.append(values)
    if len(idx_chunks) == 1:
        return idx_chunks[0], dist_chunks[0]
    return torch.cat(idx_chunks, dim=1), torch.cat(dist_chunks, dim=1)


def _rows(table: Tensor, batch_idx: Tensor, block_idx: Tensor) -> Tensor:
    """``table[batch_idx, block_idx]`` for a (B, nb, ...) table.

    One ``index_select`` of whole rows, faster on CPU than advanced indexing.
    """
    batch, num_blocks = table.shape[:2]
    flat = table.reshape(batch * num_blocks, -1)
    pick = (batch_idx * num_blocks + block_idx).reshape(-1)
    return flat.index_select(0, pick).view(*block_idx.shape, *table.shape[2:])


def _block_distances(query: PointBlocks, ref: PointBlocks, batch_idx: Tensor,
                     query_block: Tensor, ref_blocks: Tensor,
                     ref_block_valid: Tensor) -> Tuple[Tensor, Tensor]:
    """Distances of ``G`` query blocks to ``C`` reference blocks each.

    The values are bitwise those of :func:`square_distance`: the same matrix
    product on the same BLAS kernel and the same order of additions, on the
    same numbers.

    Args:
        query (PointBlocks): Query blocks of the batch.
        ref (PointBlocks): Reference blocks of the batch.
        batch_idx (Tensor): Cloud of each query block, (G,).
        query_block (Tensor): Index of each query block, (G,).
        ref_blocks (Tensor): Reference blocks searched by each, (G, C).
        ref_block_valid (Tensor): False where an entry of ``ref_blocks`` is
            only padding, (G, C).

    Returns:
        tuple[Tensor, Tensor]: Squared distances (G, bs, C * bs), infinite
        on padding, and the reference index of every column (G, C * bs).
    """
    num_blocks, width = ref_blocks.shape
    min_width = -(-MIN_PRODUCT_COLS // ref.points.shape[2])
    if width < min_width or num_blocks == 1:
        # Keep the product on the BLAS kernel of the dense search (see
        # MIN_PRODUCT_COLS): pad with blocks marked as padding, and give a
        # lone query block a twin.
        pad = max(0, min_width - width)
        ref_blocks = F.pad(ref_blocks, (0, pad))
        ref_block_valid = F.pad(ref_block_valid, (0, pad), value=False)
        twin = 2 if num_blocks == 1 else 1
        dist, ref_idx = _block_distances(
            query, ref, batch_idx.repeat(twin), query_block.repeat(twin),
            ref_blocks.repeat(twin, 1), ref_block_valid.repeat(twin, 1))
        return dist[:num_blocks], ref_idx[:num_blocks]
    rows = batch_idx.unsqueeze(1).expand_as(ref_blocks)
    ref_points = _rows(ref.points, rows, ref_blocks).flatten(1, 2)
    valid = _rows(ref.valid, rows, ref_blocks) & ref_block_valid.unsqueeze(-1)
    # Padding gets an infinite norm, hence an infinite distance.
    ref_sq = _rows(ref.sq_norms, rows, ref_blocks).masked_fill_(
        ~valid, float('inf')).flatten(1)
    dist = torch.bmm(-2 * _rows(query.points, batch_idx, query_block),
                     ref_points.transpose(1, 2))
    dist += _rows(query.sq_norms, batch_idx, query_block).unsqueeze(-1)
    dist += ref_sq.unsqueeze(1)
    return dist, _rows(ref.order, rows, ref_blocks).flatten(1)


def _chunks_by_cost(costs: List[int], per_unit: int,
                    max_elements: int) -> List[Tuple[int, int]]:
    """Cut items of ascending ``costs`` into runs of bounded total size.

    A run ``[start, end)`` is padded to its last (largest) cost, so it holds
    ``(end - start) * costs[end - 1] * per_unit`` elements.
    """
    runs, start = [], 0
    while start < len(costs):
        end = start + 1
        while (end < len(costs) and
               (end + 1 - start) * costs[end] * per_unit <= max_elements):
            end += 1
        runs.append((start, end))
        start = end
    return runs


def _needed_blocks(k: int, qb: PointBlocks, rb: PointBlocks,
                   max_elements: int) -> Tuple[Tensor, Tensor]:
    """Which reference blocks may hold a neighbour of each query block.

    1. A bound of each query's ``k``-th distance: its ``k``-th distance
       among the reference blocks nearest to its block's centre, which hold
       about ``NEAR_FACTOR * k`` points (infinite when they hold fewer than
       ``k`` real points). These distances are bitwise the dense ones, so
       the bound is never below the query's true ``k``-th distance.
    2. A reference block is needed when its bounding box comes within the
       largest bound of the block's queries of the query block's box. The
       margin covers the float32 rounding of the computed distances (a few
       units of 2**-24 relative to ``|a|^2 + |b|^2``) with a wide safety
       factor.

    Args:
        k (int): Number of neighbours ``K``.
        qb (PointBlocks): Query blocks, ``nq`` per cloud.
        rb (PointBlocks): Reference blocks, ``nr`` per cloud.
        max_elements (int): Bound on the values held at once.

    Returns:
        tuple[Tensor, Tensor]: Mask (B * nq, nr), row ``b * nq + i`` for
        query block ``i`` of cloud ``b``, and the bound of every query
        (B * nq, bs) in the same rows.
    """
    batch, num_qb, qbs = qb.order.shape
    num_rb, rbs = rb.order.shape[1:]
    device = qb.points.device
    num_near = min(num_rb, -(-max(NEAR_FACTOR * k, MIN_PRODUCT_COLS) // rbs))
    slack = 2**-16 * (rb.sq_norms.flatten(1).amax(1) +
                      qb.sq_norms.flatten(1).amax(1))
    r_centre = (rb.lower + rb.upper) / 2
    # Box corners axis-first, (B, 3, n): the gaps are computed one axis at a
    # time on (n_q, n_r) planes.
    q_lower, q_upper = qb.lower.transpose(1, 2), qb.upper.transpose(1, 2)
    r_lower = rb.lower.transpose(1, 2).unsqueeze(2)
    r_upper = rb.upper.transpose(1, 2).unsqueeze(2)
    need = torch.empty(batch, num_qb, num_rb, dtype=torch.bool,
                       device=device)
    bound = torch.empty(batch, num_qb, qbs, dtype=qb.points.dtype,
                        device=device)
    per_block = batch * max(3 * num_rb, num_near * qbs * rbs)
    for part in point_chunks(num_qb, per_block, max_elements):
        lower, upper = qb.lower[:, part], qb.upper[:, part]  # B,n,3
        num = lower.shape[1]
        near = torch.cdist((lower + upper) / 2, r_centre).topk(
            num_near, dim=-1, largest=False)[1]
        b = torch.arange(batch, device=device).repeat_interleave(num)
        blk = torch.arange(part.start, part.stop, device=device).repeat(batch)
        near = near.flatten(0, 1)
        dist, _ = _block_distances(qb, rb, b, blk, near,
                                   torch.ones_like(near, dtype=torch.bool))
        kth = _k_smallest(dist.view(-1, dist.shape[-1]), k)[0].amax(-1)
        kth = kth.view(batch, num, qbs)
        bound[:, part] = kth
        limit = kth.amax(-1) * (1 + 2**-16) + slack[:, None]
        gap_sq = None
        for axis in range(3):
            gap = torch.maximum(
                q_lower[:, axis, part].unsqueeze(-1) - r_upper[:, axis],
                r_lower[:, axis] - q_upper[:, axis, part].unsqueeze(-1))
            gap = gap.clamp_min_(0).square_()
            gap_sq = gap if gap_sq is None else gap_sq.add_(gap)
        need[:, part] = gap_sq <= limit.unsqueeze(-1)
    return need.view(batch * num_qb, num_rb), bound.view(batch * num_qb, qbs)


def _block_min(dist: Tensor) -> Tensor:
    """Smallest value over the last dimension, a power of two, by halving
    (faster on CPU than ``amin`` over a short last dimension)."""
    while dist.shape[-1] > 1 and dist.shape[-1] % 2 == 0:
        half = dist.shape[-1] // 2
        dist = torch.minimum(dist[..., :half], dist[..., half:])
    return dist.amin(-1)


def _k_smallest(values: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """The ``k`` smallest values of each row of (R, W) and their positions.

    For small ``k``, ``k`` passes of ``min`` (each masking its pick) are
    several times faster on CPU than ``topk`` over short rows; the values
    are the same multiset. The order within a row is unspecified, and in a
    row of fewer than ``k`` finite values the positions of the infinite
    picks may repeat.
    """
    if k > SMALL_K or values.device.type != 'cpu':
        return values.topk(k, dim=-1, largest=False, sorted=False)
    values = values.clone()
    vals, poss = [], []
    for _ in range(k):
        val, pos = values.min(-1, keepdim=True)
        values.scatter_(-1, pos, float('inf'))
        vals.append(val)
        poss.append(pos)
    return torch.cat(vals, -1), torch.cat(poss, -1)


def _smallest_with_next(values: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """The ``k + 1`` smallest of each row, the largest of them last.

    Columns ``[:k]`` hold the ``k`` smallest values (in any order) and their
    positions, column ``k`` the next value: the ``k``-th ties with another
    candidate exactly when the largest of the first ``k`` equals it.
    """
    val, pos = _k_smallest(values, k + 1)
    # Swap each row's largest into the last column.
    last = val.argmax(-1, keepdim=True)
    row_last = torch.full_like(last, k)
    val_last, pos_last = val.gather(-1, last), pos.gather(-1, last)
    val.scatter_(-1, last, val.gather(-1, row_last))
    pos.scatter_(-1, last, pos.gather(-1, row_last))
    val.scatter_(-1, row_last, val_last)
    pos.scatter_(-1, row_last, pos_last)
    return val, pos


def _select(k: int, dist: Tensor, ref_idx: Tensor, bound: Tensor,
            block_size: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The ``k`` smallest distances of every row of query blocks' tiles.

    Each query only ranks the reference blocks whose smallest distance is
    within its bound (see :func:`_needed_blocks`): any point of another
    block is farther than the bound, hence farther than the query's
    ``k``-th distance, and can neither be a neighbour nor tie with one.
    Rows are ranked in runs of similar numbers of such blocks, so that the
    ``topk`` calls stay narrow.

    Args:
        k (int): Number of neighbours ``K``.
        dist (Tensor): Distances (G, bs, C * block_size), bitwise the dense
            ones, infinite on padding.
        ref_idx (Tensor): Reference index of every column (G, C *
            block_size).
        bound (Tensor): Bound of every query's ``k``-th distance (G, bs).
        block_size (int): Points per reference block.

    Returns:
        tuple[Tensor, Tensor, Tensor]: Distances (G * bs, K), reference
        indices (G * bs, K), and whether the row's ``k``-th distance ties
        with another candidate or is infinite (G * bs,).
    """
    num_blocks, qbs, cols = dist.shape
    width = cols // block_size
    rows = num_blocks * qbs
    dist = dist.view(rows, width, block_size)
    row_block = torch.arange(num_blocks, device=dist.device).repeat_interleave(
        qbs)
    # Each row ranks k + 1 candidates: the (k + 1)-th tells whether the
    # k-th ties with another candidate.
    min_width = -(-(k + 1) // block_size)
    if width <= 2 * min_width + 2:
        # Narrow enough already: rank whole rows.
        runs = [(None, width)]
    else:
        block_min = _block_min(dist)  # rows, C
        counts = (block_min <= bound.view(rows, 1)).sum(-1).clamp_(
            min=min_width)
        order = torch.argsort(counts)
        sorted_counts = counts[order].tolist()
        # Runs of rows of similar counts, each ranked at its largest.
        runs, start = [], 0
        while start < rows:
            limit = min(width, max(sorted_counts[start],
                                   int(RUN_GROWTH * sorted_counts[start])))
            end = bisect.bisect_right(sorted_counts, limit, lo=start)
            runs.append((order[start:end], sorted_counts[end - 1]))
            start = end
    values = dist.new_empty(rows, k)
    nbr = torch.empty(rows, k, dtype=torch.long, device=dist.device)
    tie = torch.empty(rows, dtype=torch.bool, device=dist.device)
    flat = dist.view(rows * width, block_size)
    for run, num in runs:
        if run is None:
            sub, blocks = dist.view(rows, cols), None
        else:
            # The ``num`` blocks of smallest minimum: all blocks within the
            # bound, and others that cannot matter. topk, whose picks are
            # distinct even among infinite (padding) minima.
            blocks = block_min[run].topk(num, dim=-1, largest=False,
                                         sorted=False)[1]
            sub = flat.index_select(
                0, (run.unsqueeze(1) * width + blocks).flatten()).view(
                    -1, num * block_size)
        if sub.shape[1] > k:
            val, pos = _smallest_with_next(sub, k)
            kth = val[:, :k].amax(-1)
            run_tie = (kth == val[:, k]) | torch.isinf(kth)
            val, pos = val[:, :k], pos[:, :k]
        else:  # as many candidates as neighbours: all of them
            val, pos = sub, torch.arange(k, device=sub.device).expand_as(sub)
            run_tie = torch.isinf(val).any(-1)
        if blocks is not None:
            slot = torch.div(pos, block_size, rounding_mode='floor')
            pos = pos + (torch.gather(blocks, 1, slot) - slot) * block_size
        run_rows = row_block if run is None else row_block[run]
        run_nbr = ref_idx.view(-1).index_select(
            0, (run_rows.unsqueeze(1) * cols + pos).reshape(-1)).view_as(pos)
        if run is None:
            values, nbr, tie = val, run_nbr, run_tie
        else:
            values[run], nbr[run], tie[run] = val, run_nbr, run_tie
    return values, nbr, tie


def knn_blocked(k: int,
                ref: Tensor,
                query: Tensor,
                max_elements: Optional[int] = None,
                query_block_size: int = QUERY_BLOCK_SIZE,
                ref_block_size: int = REF_BLOCK_SIZE) -> Tuple[Tensor, Tensor]:
    """Exact search that skips reference points too far to be neighbours.

    Both clouds are cut into spatially compact blocks (:func:`kd_blocks`;
    inside :func:`~bpfn.ops.point_blocks.reuse_point_blocks` a cloud's
    blocks are cut once and reused by every search on it). For every query
    block:

    1. an upper bound of each query's ``k``-th distance comes from the few
       reference blocks nearest to the block's centre;
    2. every reference block whose bounding box lies within the largest of
       those bounds (plus a margin for float32 rounding) gets its distances
       computed, bitwise the dense ones; the others cannot hold a neighbour;
    3. each query ranks only the blocks whose nearest point is within its
       own bound (a candidate superset, usually a few times ``k``), and its
       ``k`` smallest distances are the neighbours. A query whose ``k``-th
       distance equals another candidate's is searched again densely, so
       that ties are broken exactly as :func:`knn_dense` breaks them.

    Clouds of fewer than ``query_block_size`` queries, in half precision
    (whose rounding the margin of step 2 does not cover) or with non-finite
    coordinates are searched densely.

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).
        max_elements (int, optional): Bound on the distance entries held at
            once (a chunk holds at least one query block). Defaults to
            :func:`default_max_elements`.
        query_block_size (int): Most queries per block, at least 16.
            Defaults to 16.
        ref_block_size (int): Most reference points per block.
            Defaults to 16.

    Returns:
        tuple[Tensor, Tensor]: Indices (B, S, K) and squared distances
        (B, S, K), the same neighbour sets as :func:`knn_dense`.
    """
    if query_block_size < 16:
        raise ValueError('knn_blocked: query_block_size must be at least 16 '
                         f'(blocks of 9 or more rows), got {query_block_size}')
    max_elements = max_elements or default_max_elements(query.device)
    if (query.shape[1] < query_block_size
            or query.dtype not in (torch.float32, torch.float64)
            or not all_finite(ref) or not all_finite(query)):
        return knn_dense(k, ref, query, max_elements)
    batch, num_query, _ = query.shape
    device = query.device
    rb = cloud_blocks(ref, ref_block_size)
    qb = cloud_blocks(query, query_block_size)
    num_qb, qbs = qb.order.shape[1:]
    per_block = query_block_size * ref_block_size
    flat = torch.arange(batch * num_qb, device=device)
    flat_batch, flat_block = flat // num_qb, flat % num_qb

    # 1-2. Reference blocks that may hold a neighbour of each query block,
    # and each query's bound.
    need, bound = _needed_blocks(k, qb, rb, max_elements)
    counts = need.sum(-1)

    # 3. Search each query block among its reference blocks, the blocks in
    # ascending order of their number of reference blocks.
    out_idx = torch.empty(batch, num_query, k, dtype=torch.long,
                          device=device)
    out_dist = torch.empty(batch, num_query, k, dtype=ref.dtype,
                           device=device)
    by_count = torch.argsort(counts)
    sorted_counts = counts[by_count].tolist()
    ties = []
    for start, end in _chunks_by_cost(sorted_counts, per_block, max_elements):
        blocks = by_count[start:end]
        width = sorted_counts[end - 1]
        ref_blocks = torch.argsort(
            (~need[blocks]).to(torch.uint8), dim=-1, stable=True)[:, :width]
        block_valid = torch.arange(width, device=device) < counts[blocks,
                                                                  None]
        b, qblk = flat_batch[blocks], flat_block[blocks]
        dist, ref_idx = _block_distances(qb, rb, b, qblk, ref_blocks,
                                         block_valid)
        values, nbr, tie = _select(k, dist, ref_idx, bound[blocks],
                                   rb.order.shape[2])
        real = _rows(qb.valid, b, qblk).flatten()
        clouds = b.repeat_interleave(qbs)[real]
        queries = _rows(qb.order, b, qblk).flatten()[real]
        out_idx[clouds, queries] = nbr[real]
        out_dist[clouds, queries] = values[real]
        tie = tie[real]
        ties.append((clouds[tie], queries[tie]))

    # 4. Tied queries: the dense search on their full rows.
    tie_clouds = torch.cat([t[0] for t in ties])
    tie_queries = torch.cat([t[1] for t in ties])
    for i in torch.unique(tie_clouds).tolist():
        queries = tie_queries[tie_clouds == i]
        idx, dist = knn_dense(k, ref[i:i + 1], query[i:i + 1, queries],
                              max_elements)
        out_idx[i, queries] = idx[0]
        out_dist[i, queries] = dist[0]
    return out_idx, out_dist


def knn_reference(k: int, ref: Tensor, query: Tensor) -> Tuple[Tensor, Tensor]:
    """The original's search: the whole distance matrix, then ``topk``.

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).

    Returns:
        tuple[Tensor, Tensor]: Indices (B, S, K) and squared distances
        (B, S, K).
    """
    dist = -2 * torch.matmul(query, ref.transpose(1, 2))
    dist += torch.sum(query**2, -1).unsqueeze(-1)
    dist += torch.sum(ref**2, -1).unsqueeze(1)
    values, idx = torch.topk(dist, k, dim=-1, largest=False, sorted=False)
    return idx, values


def self_knn(k: int, xyz: Tensor,
             max_elements: Optional[int] = None) -> Tensor:
    """``knn(k, xyz, xyz)``: neighbours of each point within its own cloud."""
    return knn(k, xyz, xyz, max_elements)
