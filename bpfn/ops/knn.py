"""Exact k-nearest-neighbour search, chunked so that memory stays bounded."""
import functools
import warnings
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from .chunking import cat_chunks, point_chunks
from .export import EXPORT_MAX_ELEMENTS, use_export
from .neighbour_audit import current_audit
from .reference import use_reference
from .search_replay import recorded_call
from .search_trees import all_finite, cloud_trees, squared_norms

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
# cheaper than the tree search.
TREE_MIN_PAIRS = 2**22
# Queries per group of the tree search's distance products (see
# :func:`_candidate_distances`): the fewest of these whose group product,
# (G, 3) x (3, G * W), has MIN_GROUP_ENTRIES entries or more. BLAS rounds
# such products (at least 4 rows) as the dense search's; torch multiplies
# smaller ones in a loop of its own, and BLAS products of 1 or 2 rows round
# otherwise too. Each size is checked on this machine before it is used
# (:func:`_groups_round_as_dense`).
GROUP_ROWS = (4, 8, 16)
MIN_GROUP_ENTRIES = 256
# Bound on the float32 rounding of :func:`square_distance`, relative to the
# largest squared norms of the two clouds (the error is at most about
# 10 * 2**-24 times |a|^2 + |b|^2; this is 3.2 times that).
ROUNDING_SLACK = 2**-19
# Up to this many smallest values of a row are found by passes of ``min``
# (each masking its pick) instead of ``topk``: several times faster on CPU
# for so few.
SMALL_K = 5


# A query whose candidates may miss a neighbour asks the tree again for
# wider sets, while they stay below this fraction of the reference cloud;
# beyond, its full row is searched densely (about as fast there).
WIDEST_TREE_FRACTION = 16


def tree_candidates(k: int) -> int:
    """Candidates per query the tree search ranks: ``k`` and a margin."""
    return max(k + max(2, k // 8), -(-MIN_PRODUCT_COLS // GROUP_ROWS[-1]))


def group_rows(width: int,
               dtype: torch.dtype = torch.float32) -> Optional[int]:
    """Queries per group of :func:`_candidate_distances` for ``width``
    candidates each: the fewest of ``GROUP_ROWS`` whose products are large
    enough and, on this machine's BLAS, round as the dense search's
    (:func:`_groups_round_as_dense`); None where none does."""
    for rows in GROUP_ROWS:
        if (rows * rows * width >= MIN_GROUP_ENTRIES
                and _groups_round_as_dense(rows, dtype)):
            return rows
    return None


@functools.lru_cache(maxsize=None)
def _groups_round_as_dense(rows: int, dtype: torch.dtype) -> bool:
    """Whether grouped products of ``rows`` queries give the dense search's
    distances bitwise on this machine, checked once per process on a fixed
    probe (clouds far from the origin, the widths the groups serve).

    BLAS libraries pick their kernels by shape and processor; the tree
    search's exactness rests on the grouped products rounding as the dense
    product does, so a group size that does not is not used.
    """
    gen = torch.Generator().manual_seed(0)
    ref = (torch.rand(1, 1024, 3, generator=gen) * 60 + 500).to(dtype)
    query = (torch.rand(1, 61, 3, generator=gen) * 60 + 500).to(dtype)
    dense = square_distance(query, ref)[0]
    ref_sq, query_sq = squared_norms(ref), squared_norms(query)
    # The narrowest width these groups serve, and wider ones.
    narrowest = max(tree_candidates(1), -(-MIN_GROUP_ENTRIES // rows**2))
    widths = [narrowest] + [w for w in (11, 16, 36, 76) if w > narrowest]
    for width in widths:
        cand = torch.randint(0, 1024, (1, 61, width), generator=gen)
        dist = _candidate_distances(ref, query, cand, ref_sq, query_sq,
                                    CPU_MAX_ELEMENTS, size=rows)[0]
        if not torch.equal(dist, dense.gather(1, cand[0])):
            return False
    return True


def wider_candidates(width: int) -> int:
    """The next candidate width for queries the last one left uncertain:
    half as wide again, and at least 8 more."""
    return width + max(8, width // 2)


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
    - ``'tree'`` (CPU) takes a few more than ``k`` candidates of every
      query from a k-d tree and ranks them by distances bitwise the dense
      ones (see :func:`knn_tree`); a query whose candidates might miss a
      neighbour, or whose ``k``-th distance ties with the next one, is
      searched densely, so the neighbour sets are equal.

    ``'auto'`` takes the tree search for large clouds on CPU and the dense
    one otherwise (a GPU is faster on the dense matrix).

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).
        max_elements (int, optional): Bound on the distance entries held at
            once. Defaults to :func:`default_max_elements`.
        return_dist (bool): Also return the squared distances.
            Defaults to False.
        method (str): ``'auto'``, ``'dense'`` or ``'tree'``.
            Defaults to ``'auto'``.

    Returns:
        Tensor | tuple[Tensor, Tensor]: Indices into ``ref``, shape
        (B, S, K), int64 (and squared distances (B, S, K), without
        gradient, when asked).
    """
    if k > ref.shape[1]:
        raise ValueError(f'knn: asked for k={k} neighbours among only '
                         f'{ref.shape[1]} reference points')
    if method not in ('auto', 'dense', 'tree'):
        raise ValueError(f"knn: unknown method {method!r}, expected 'auto', "
                         "'dense' or 'tree'")
    return recorded_call(
        'knn', (ref, query), dict(k=k, return_dist=return_dist),
        lambda: _search(k, ref, query, max_elements, return_dist, method))


def _search(k: int, ref: Tensor, query: Tensor,
            max_elements: Optional[int], return_dist: bool,
            method: str) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """The search :func:`knn` runs: the reference or export path where
    switched on, else ``method`` (``'auto'`` chosen here)."""
    # Indices only: no graph to record. Never under autocast (--amp): in
    # float16 or bfloat16 most rows' neighbours would change.
    with torch.no_grad(), torch.autocast(query.device.type, enabled=False):
        ref, query = ref.detach(), query.detach()
        if use_reference():
            idx, dist = knn_reference(k, ref, query)
            return (idx, dist) if return_dist else idx
        if use_export():
            idx, dist = knn_export(k, ref, query, max_elements)
            return (idx, dist) if return_dist else idx
        max_elements = max_elements or default_max_elements(query.device)
        if method == 'auto':
            tree = (query.device.type == 'cpu'
                    and query.shape[1] * ref.shape[1] >= TREE_MIN_PAIRS
                    and ref.shape[1] >= 4 * k)
            method = 'tree' if tree else 'dense'
        audit = current_audit()
        if method == 'tree':
            idx, dist = knn_tree(k, ref, query, max_elements,
                                 need_dist=return_dist or audit is not None)
        else:
            idx, dist = knn_dense(k, ref, query, max_elements)
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
    return cat_chunks(idx_chunks, dim=1), cat_chunks(dist_chunks, dim=1)


def knn_export(k: int,
               ref: Tensor,
               query: Tensor,
               max_elements: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """The dense search as an ONNX graph computes it (see
    :func:`bpfn.ops.export_algorithms`).

    The distances are :func:`square_distance`'s; of equal distances the
    lower reference index is taken first, as ONNX ``TopK`` specifies (the
    tree search of the CPU path, which runs outside torch, cannot be
    traced and is left out). While tracing, ``topk`` records that operator;
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
    return cat_chunks(idx_chunks, dim=1), cat_chunks(dist_chunks, dim=1)


def _candidate_distances(ref: Tensor, query: Tensor, cand: Tensor,
                         ref_sq: Tensor, query_sq: Tensor,
                         max_elements: int,
                         size: Optional[int] = None) -> Tensor:
    """Squared distances of every query to its own candidates, bitwise
    those of :func:`square_distance`.

    The products run on the BLAS kernel of the dense search: groups of
    :func:`group_rows` queries, each multiplied with the candidates of the
    whole group (never a batch of one group), of which each query keeps its
    own; then the norms are added in the dense search's order.

    Args:
        ref (Tensor): Reference points, shape (B, M, 3).
        query (Tensor): Query points, shape (B, S, 3).
        cand (Tensor): Candidates of every query, indices into M,
            shape (B, S, W), ``W >= tree_candidates(1)``.
        ref_sq (Tensor): Squared norms of ``ref`` (:func:`squared_norms`),
            shape (B, M).
        query_sq (Tensor): Squared norms of ``query``, shape (B, S).
        max_elements (int): Bound on the product entries held at once.
        size (int, optional): Queries per group. Defaults to
            :func:`group_rows` (which must not be None).

    Returns:
        Tensor: Squared distances, shape (B, S, W).
    """
    batch, num_query, width = cand.shape
    num_ref = ref.shape[1]
    size = size or group_rows(width, query.dtype)
    pad = -num_query % size
    if pad:  # whole groups: repeat the first queries (cyclically)
        again = torch.arange(pad, device=cand.device) % num_query
        query = torch.cat([query, query[:, again]], 1)
        cand = torch.cat([cand, cand[:, again]], 1)
    offset = (torch.arange(batch, device=cand.device) * num_ref).view(
        batch, 1, 1)
    flat_cand = (cand + offset).view(-1, size * width)
    groups = query.reshape(-1, size, 3)
    flat_ref = ref.reshape(-1, 3)
    num_groups = groups.shape[0]
    per_group = size * size * width
    step = max(2, max_elements // per_group)
    own = []
    for start in range(0, num_groups, step):
        stop = min(start + step, num_groups)
        # Never a product batch of one group: a last lone group is computed
        # with its predecessor, a lone group of the whole search twice.
        low = max(0, stop - 2) if stop - start == 1 else start
        rows = groups[low:stop]
        cols = flat_cand[low:stop]
        if rows.shape[0] == 1:
            rows, cols = rows.repeat(2, 1, 1), cols.repeat(2, 1)
        points = flat_ref.index_select(0, cols.reshape(-1)).view(
            -1, size * width, 3)
        product = torch.bmm(-2 * rows, points.transpose(1, 2)).view(
            -1, size, size, width)
        diagonal = product.diagonal(dim1=1, dim2=2).transpose(1, 2)
        own.append(diagonal[start - low:start - low + stop - start])
    dist = cat_chunks(own, dim=0).reshape(batch, -1, width)[:, :num_query]
    dist = dist + query_sq.unsqueeze(-1)
    dist += ref_sq.view(-1).index_select(
        0, (cand[:, :num_query] + offset).reshape(-1)).view_as(dist)
    return dist


def knn_tree(
        k: int,
        ref: Tensor,
        query: Tensor,
        max_elements: Optional[int] = None,
        need_dist: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    """Exact search from a k-d tree's candidates.

    1. A k-d tree of each reference cloud (:func:`cloud_trees`; inside
       :func:`~bpfn.ops.search_trees.reuse_search_trees` built once per
       cloud and reused by every search on it) gives each query its
       ``W = tree_candidates(k)`` nearest points by exact (float64)
       distance.
    2. Those candidates hold every neighbour of the dense search, and every
       point tied with its ``k``-th, when the ``W``-th exact squared
       distance exceeds the ``k``-th by more than twice the float32
       rounding of :func:`square_distance` (``ROUNDING_SLACK``); other
       queries go to step 3. When already the ``(k + 1)``-th
       exceeds the ``k``-th by that much, the float32 distances rank the
       tree's first ``k`` below every other point: they are the
       neighbours, and (unless ``need_dist``) no distance is computed.
    3. A query whose candidates may miss a neighbour asks the tree again
       for wider sets (:func:`wider_candidates`: 5 -> 13 -> 21 -> 31 ...),
       until the last candidate clears the ``k``-th as in step 2; where
       the width would pass ``1 / WIDEST_TREE_FRACTION`` of the reference
       cloud, the query is searched densely. (On the fixture's reference
       scene, 8192 points up to 31 m from the origin, many neighbours lie
       closer than that rounding: about a third of the queries at k = 3,
       9 and 16 need this, and the widest they needed was 16, 20 and 26
       candidates.)
    4. The queries' candidate distances are computed bitwise as the
       dense search computes them (:func:`_candidate_distances`), and the
       ``k`` smallest are the neighbours. A query whose ``k``-th distance
       equals another candidate's is searched densely, so that ties are
       broken exactly as :func:`knn_dense` breaks them.

    Clouds in half precision (whose rounding the slack does not cover) or
    with non-finite coordinates are searched densely.

    Args:
        k (int): Number of neighbours ``K``.
        ref (Tensor): Reference points, shape (B, M, 3), on CPU.
        query (Tensor): Query points, shape (B, S, 3), on CPU.
        max_elements (int, optional): Bound on the distance entries held at
            once. Defaults to :func:`default_max_elements`.
        need_dist (bool): Return the squared distances too.
            Defaults to True.

    Returns:
        tuple[Tensor, Tensor | None]: Indices (B, S, K), the same neighbour
        sets as :func:`knn_dense`, and their squared distances (B, S, K),
        bitwise the dense ones (without ``need_dist``: None, except where
        the whole search ran densely).
    """
    if query.device.type != 'cpu' or ref.device.type != 'cpu':
        raise ValueError("knn: method='tree' searches CPU tensors only; "
                         f'got {query.device} and {ref.device}')
    max_elements = max_elements or default_max_elements(query.device)
    batch, num_query, _ = query.shape
    width = tree_candidates(k)
    if (ref.shape[1] < width
            or query.dtype not in (torch.float32, torch.float64)
            or not all_finite(ref) or not all_finite(query)):
        return knn_dense(k, ref, query, max_elements)
    if group_rows(width, query.dtype) is None:
        _warn_no_bitwise_groups(query.dtype)
        return knn_dense(k, ref, query, max_elements)

    # 1-2. Candidates; whether they are certain to hold the neighbours, and
    # whether the tree's first k are certain to be them.
    ref_sq, query_sq = squared_norms(ref), squared_norms(query)
    slack = ROUNDING_SLACK * (ref_sq.amax(1).double() +
                              query_sq.amax(1).double())
    cand = torch.empty(batch, num_query, width, dtype=torch.long)
    certain = torch.empty(batch, num_query, dtype=torch.bool)
    settled = None if need_dist else torch.empty(batch, num_query,
                                                 dtype=torch.bool)
    trees = cloud_trees(ref)
    threads = torch.get_num_threads()
    for i, tree in enumerate(trees):
        exact, found = tree.query(query[i].numpy(), width, threads)
        exact = torch.from_numpy(exact)
        cand[i] = torch.from_numpy(found)
        certain[i] = exact[:, -1] - exact[:, k - 1] > 2 * slack[i]
        if not need_dist:
            settled[i] = exact[:, k] - exact[:, k - 1] > 2 * slack[i]
    idx = cand[..., :k].contiguous()
    values = torch.empty(idx.shape, dtype=query.dtype) if need_dist else None
    rank = certain.clone() if need_dist else certain & ~settled

    # 3. Uncertain queries: wider candidate sets. (They are never settled:
    # the (k + 1)-th distance is at most the W-th.)
    widened = []  # (cloud, query rows, their candidates (R, W'))
    widest = ref.shape[1] // WIDEST_TREE_FRACTION
    for i, tree in enumerate(trees):
        rows, wide = (~certain[i]).nonzero().squeeze(1), width
        while rows.numel() and wider_candidates(wide) <= widest:
            wide = wider_candidates(wide)
            exact, found = tree.query(query[i, rows].numpy(), wide, threads)
            exact = torch.from_numpy(exact)
            clear = exact[:, -1] - exact[:, k - 1] > 2 * slack[i]
            if clear.any():
                found = torch.from_numpy(found)
                widened.append((i, rows[clear], found[clear]))
                certain[i, rows[clear]] = True
            rows = rows[~clear]

    # 4. Bitwise distances of the queries to rank; their k smallest, and a
    # tie check.
    groups = [(i, rank[i].nonzero().squeeze(1)) for i in range(batch)]
    groups = [(i, rows, cand[i, rows]) for i, rows in groups if rows.numel()]
    for i, rows, rows_cand in groups + widened:
        dist = _candidate_distances(ref[i:i + 1], query[i:i + 1, rows],
                                    rows_cand[None], ref_sq[i:i + 1],
                                    query_sq[i:i + 1, rows], max_elements)[0]
        pos, val, untied = _rank_candidates(dist, k)
        idx[i, rows] = rows_cand.gather(1, pos)
        if need_dist:
            values[i, rows] = val
        certain[i, rows[~untied]] = False

    # 5. Uncertain and tied queries: the dense search on their full rows.
    for i in range(batch):
        queries = (~certain[i]).nonzero().squeeze(1)
        if queries.numel():
            found, dense = knn_dense(k, ref[i:i + 1], query[i:i + 1, queries],
                                     max_elements)
            idx[i, queries] = found[0]
            if need_dist:
                values[i, queries] = dense[0]
    return idx, values


@functools.lru_cache(maxsize=None)
def _warn_no_bitwise_groups(dtype: torch.dtype) -> None:
    """Say once per dtype why the tree search is not used."""
    warnings.warn(
        f'knn: on this machine no grouped distance product ({GROUP_ROWS} '
        f'queries) rounds as the dense search\'s in {dtype}, so the k-d '
        'tree search could not reproduce its neighbours exactly; every '
        'search runs densely (same neighbours, slower)')


def _rank_candidates(dist: Tensor, k: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The ``k`` smallest of each row of candidate distances (R, W).

    Returns:
        tuple[Tensor, Tensor, Tensor]: Their positions (R, K) and values
        (R, K), and whether the ``k``-th is below every other candidate
        (R,), i.e. no tie decides the set.
    """
    # The tree's order is exact: usually its first k are the k smallest,
    # all below the other candidates.
    pos = torch.arange(k).expand(dist.shape[0], k).clone()
    val = dist[:, :k].contiguous()
    untied = val.amax(-1) < dist[:, k:].amin(-1)
    redo = (~untied).nonzero().squeeze(1)
    if redo.numel():
        smallest, where = _smallest_with_next(dist[redo], k)
        untied[redo] = smallest[:, :k].amax(-1) < smallest[:, k]
        pos[redo] = where[:, :k]
        val[redo] = smallest[:, :k]
    return pos, val, untied


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
