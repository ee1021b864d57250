"""Neighbour search and farthest point sampling for ONNX export.

Inside :func:`export_algorithms` the ops take paths that export to standard
ONNX operators (no custom domain) and compute the same neighbours and
samples as bpfn's default paths:

- :func:`knn` takes the dense search (``|a|^2 + |b|^2 - 2 a.b`` from one
  matrix product, then ``TopK``) over a few large chunks of queries. The
  CPU path's k-d tree search, which runs outside torch and cannot be
  traced, stays out of the export; both give the same neighbour sets.
- :func:`furthest_point_sample` runs its sequential loop as a TorchScript
  loop, which the TorchScript-based ONNX exporter writes as one ONNX
  ``Loop`` node: the same IEEE operations as the default path (squares,
  then ``(dx^2 + dy^2) + dz^2``, a running minimum from 1e10 and the first
  index of the maximum), hence identical samples, at any number of points
  without unrolling the loop.

Example::

    with export_algorithms():
        torch.onnx.export(wrapper, (pc1, pc2), 'model.onnx', dynamo=False)
"""
import contextlib
import contextvars
import functools
import warnings
from typing import Callable, Iterator

import torch
from torch import Tensor

_EXPORT = contextvars.ContextVar('bpfn_export_algorithms', default=False)

# Distance entries (B * chunk * M) held at once by one chunk of the dense
# search in an exported model: a few large products rather than many
# cache-sized ones (64 MiB of float32 per chunk at the traced batch size).
EXPORT_MAX_ELEMENTS = 2**24


@contextlib.contextmanager
def export_algorithms(enabled: bool = True) -> Iterator[None]:
    """Trace the enclosed code with the export paths of the ops.

    Args:
        enabled (bool): Switch them on (or, nested, off again).
            Defaults to True.
    """
    token = _EXPORT.set(bool(enabled))
    try:
        yield
    finally:
        _EXPORT.reset(token)


def use_export() -> bool:
    """Whether :func:`export_algorithms` is on in this context."""
    return _EXPORT.get()


def _fps_loop(xyz: Tensor, num_samples: int) -> Tensor:
    """The sampling loop on (B, N, 3) points; indices (B, S), int64."""
    batch = xyz.size(0)
    x, y, z = xyz[:, :, 0], xyz[:, :, 1], xyz[:, :, 2]
    min_dist = torch.full_like(x, 1e10)
    farthest = torch.zeros([batch, 1], dtype=torch.long, device=xyz.device)
    chosen = [farthest]
    for _ in range(1, num_samples):
        dx = x - torch.gather(x, 1, farthest)
        dy = y - torch.gather(y, 1, farthest)
        dz = z - torch.gather(z, 1, farthest)
        min_dist = torch.minimum(min_dist, (dx * dx + dy * dy) + dz * dz)
        farthest = torch.argmax(min_dist, dim=1, keepdim=True)
        chosen.append(farthest)
    return torch.cat(chosen, dim=1)


@functools.lru_cache(maxsize=None)
def _scripted_fps_loop() -> Callable[[Tensor, int], Tensor]:
    """:func:`_fps_loop` compiled by TorchScript, on first use."""
    with warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, whose ONNX
        # exporter has no loop form of this sequential sampling yet.
        warnings.simplefilter('ignore', DeprecationWarning)
        return torch.jit.script(_fps_loop)


def furthest_point_sample_export(xyz: Tensor, num_samples: int) -> Tensor:
    """Farthest point sampling as a scripted loop (an ONNX ``Loop``).

    Args:
        xyz (Tensor): Points, shape (B, N, 3), float32.
        num_samples (int): Number of points to pick, ``S``.

    Returns:
        Tensor: Indices into N, shape (B, S), int64; the samples of
        :func:`~bpfn.ops.furthest_point_sample`.
    """
    return _scripted_fps_loop()(xyz.detach(), num_samples)
