"""k-d trees of point clouds, built once per cloud inside a forward."""
import contextlib
import contextvars
from typing import Callable, Iterator, List

import torch
from torch import Tensor

from .kd_trees import CloudTree, build_tree

# Structures of the clouds searched inside ``reuse_search_trees``.
_CACHE = contextvars.ContextVar('bpfn_search_trees_cache', default=None)


@contextlib.contextmanager
def reuse_search_trees() -> Iterator[None]:
    """Build the search structures of each cloud once inside the block.

    A network searches the same clouds many times (a cloud is the reference
    of one search and the query of the next); inside this context
    :func:`cloud_trees` and :func:`all_finite` compute their result once per
    point tensor and return it again for later calls on the same tensor.
    The tensors stay referenced until the context exits, and a tensor
    changed in place (a new version) is processed again. Also usable as a
    decorator; nested uses share the outer cache.
    """
    if _CACHE.get() is not None:
        yield
        return
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def _key(points: Tensor, what: tuple) -> tuple:
    return (points.data_ptr(), points.dtype, points.device,
            tuple(points.shape), points.stride(), points._version) + what


def _cached(points: Tensor, what: tuple, build: Callable[[], object]):
    cache = _CACHE.get()
    if cache is None or points.is_inference():
        # Inference tensors carry no version counter: no safe reuse.
        return build()
    key = _key(points, what)
    hit = cache.get(key)
    if hit is None:
        # Holding the tensor keeps its memory from being reused by another.
        hit = cache[key] = (points, build())
    return hit[1]


def _build_tree(cloud: Tensor) -> CloudTree:
    return build_tree(cloud.detach().cpu().numpy())


def cloud_trees(points: Tensor) -> List[CloudTree]:
    """A k-d tree (:func:`~bpfn.ops.kd_trees.build_tree`) of every cloud of
    a batch.

    Inside :func:`reuse_search_trees` the trees are kept per cloud, so that
    a batch and a slice of it (both clouds of a pair, and one of them) share
    them.

    Args:
        points (Tensor): Points, shape (B, N, 3), on CPU.

    Returns:
        list[CloudTree]: ``B`` trees, over float64 copies of the points.
    """
    return [
        _cached(points[i], ('tree', ), lambda i=i: _build_tree(points[i]))
        for i in range(points.shape[0])
    ]


def squared_norms(points: Tensor) -> Tensor:
    """``|p|^2`` of (B, N, 3) points as :func:`~bpfn.ops.square_distance`
    computes them, (B, N); reused inside :func:`reuse_search_trees`."""
    return _cached(points, ('sq_norms', ),
                   lambda: torch.sum(points.detach()**2, -1))


def all_finite(points: Tensor) -> bool:
    """Whether every value is finite, reused inside
    :func:`reuse_search_trees`."""
    return _cached(points, ('finite', ),
                   lambda: bool(torch.isfinite(points).all()))
