"""FLOP and parameter counting of scene flow networks.

Two conventions are counted from one jit trace with
:class:`mmengine.analysis.FlopAnalyzer` and bpfn's own operator handles. The
handles work at the aten level because the 1x1 convolutions of bpfn's layers
are applied channel-last through ``F.linear`` with the convolution's weight.

``FLOPs`` (the published convention, that of the 2020 ``thop`` profiler the
BPF tables were made with):

* multiply-adds of every convolution and linear layer;
* one operation per output element for a convolution's bias (``thop``
  counted the bias of ``nn.Conv*`` but not that of ``nn.Linear``);
* one operation per element for each LeakyReLU;
* two operations per element for each BatchNorm (eval mode);
* nothing for ``torch.matmul``, the weight nets' ``F.relu``, max pooling,
  the neighbour search or farthest point sampling.

``FLOPs (all ops)``: multiply-adds of every convolution, linear layer,
``matmul``/``bmm``/``mm``/``addmm`` and ``einsum``, as MMEngine's analysis
tools count them (biases, activations and normalisation not counted).

The count does not depend on which code path bpfn takes at run time (the
k-d tree kNN on CPU, the dense one on CUDA, chunked layers): the
model is always traced inside :func:`bpfn.ops.reference_algorithms`, the
straightforward algorithms of the original. So the neighbour search counts
by one convention, the original's: a kNN of ``M`` queries among ``N``
points costs the ``M x N x 3`` multiply-adds of the ``a.b`` term of its full
squared-distance matrix ``|a|^2 + |b|^2 - 2 a.b`` (a ``matmul``; the norms,
the sum and ``topk`` are not counted). For the teacher at 8192 points that
is 0.94G of its 14.82G. The published convention counts no neighbour search
at all, so it is the same on every path.

Farthest point sampling is a Python loop of ``S`` steps and makes the jit
trace slow; it counts in neither convention, so :func:`count_flops` by
default switches the sampler of every downsampling layer
(:attr:`bpfn.models.layers.PointConvDown.sampler`) to a cheap stand-in of
the same output shape while tracing (the FLOPs do not depend on which
points are picked).
"""
import contextlib
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import einsum_flop_jit, get_shape
from torch import Tensor, nn

from bpfn.models.layers import PointConvDown
from bpfn.ops import reference_algorithms

__all__ = [
    'FlopCount', 'count_flops', 'count_parameters', 'flop_op_handles',
    'evenly_spaced_sample', 'sampler_stand_in'
]

# Keys of the per-operator counters produced by the handles below.
MAC_KEYS = ('conv', 'linear', 'matmul', 'einsum')


def _numel(shape: Optional[Sequence[int]]) -> int:
    count = 1
    for dim in shape or ():
        count *= int(dim)
    return count


def _has_tensor(value: Any) -> bool:
    """Whether a jit value is a tensor (an optional bias that is given)."""
    return isinstance(value.type(), torch._C.TensorType)


def _linear_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::linear(x, weight, bias)``: MACs and bias additions."""
    weight_shape = get_shape(inputs[1])
    out_numel = _numel(get_shape(outputs[0]))
    counts = Counter(linear=out_numel * int(weight_shape[-1]))
    if len(inputs) > 2 and _has_tensor(inputs[2]):
        counts['linear_bias'] = out_numel
    return counts


def _conv_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::_convolution`` / ``conv1d`` / ``conv2d``: MACs and bias."""
    weight_shape = get_shape(inputs[1])
    out_numel = _numel(get_shape(outputs[0]))
    # weight (C_out, C_in / groups, *kernel)
    counts = Counter(conv=out_numel * _numel(weight_shape[1:]))
    if _has_tensor(inputs[2]):
        counts['conv_bias'] = out_numel
    return counts


def _matmul_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::matmul`` / ``bmm`` / ``mm``: output elements x inner size."""
    first = get_shape(inputs[0])
    return Counter(matmul=_numel(get_shape(outputs[0])) * int(first[-1]))


def _addmm_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::addmm(bias, a, b)``: output elements x inner size."""
    first = get_shape(inputs[1])
    return Counter(matmul=_numel(get_shape(outputs[0])) * int(first[-1]))


def _einsum_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::einsum``: MMEngine's count."""
    return Counter(einsum=int(einsum_flop_jit(inputs, outputs)))


def _leaky_relu_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::leaky_relu``: one operation per element."""
    return Counter(leaky_relu=_numel(get_shape(inputs[0])))


def _batch_norm_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::batch_norm`` (eval): two operations per element."""
    return Counter(batch_norm=2 * _numel(get_shape(inputs[0])))


def flop_op_handles() -> Dict[str, Any]:
    """Operator handles of bpfn's counting, keyed by aten operator name.

    Returns:
        dict: Handles for :meth:`FlopAnalyzer.set_op_handle`; each returns
        a ``Counter`` with keys ``conv``, ``conv_bias``, ``linear``,
        ``linear_bias``, ``matmul``, ``einsum``, ``leaky_relu`` or
        ``batch_norm``.
    """
    return {
        'aten::linear': _linear_handle,
        'aten::_convolution': _conv_handle,
        'aten::conv1d': _conv_handle,
        'aten::conv2d': _conv_handle,
        'aten::conv3d': _conv_handle,
        'aten::matmul': _matmul_handle,
        'aten::bmm': _matmul_handle,
        'aten::mm': _matmul_handle,
        'aten::addmm': _addmm_handle,
        'aten::einsum': _einsum_handle,
        'aten::leaky_relu': _leaky_relu_handle,
        'aten::leaky_relu_': _leaky_relu_handle,
        'aten::batch_norm': _batch_norm_handle,
    }


class FlopCount(dict):
    """Result of :func:`count_flops`, a dict with attribute access.

    Keys: ``flops`` (published convention), ``flops_all`` (all ops),
    ``params`` and ``by_operator`` (the raw per-key counter).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


class _ExtractWrapper(nn.Module):
    """Traceable view of a flow network: two clouds in, flows out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pc1: Tensor, pc2: Tensor) -> Tuple[Tensor, ...]:
        """(B, N, 3) clouds -> tuple of flows (B, N_l, 3)."""
        return tuple(self.model.extract(pc1, pc2)['flows'])


def evenly_spaced_sample(xyz: Tensor, num_samples: int) -> Tensor:
    """Evenly spaced indices, a trace-friendly stand-in for FPS.

    Args:
        xyz (Tensor): Points, shape (B, N, 3).
        num_samples (int): Number of points to pick, ``S``.

    Returns:
        Tensor: Indices into N, shape (B, S), int64.
    """
    batch, num_points = xyz.shape[:2]
    if num_samples > num_points:
        raise ValueError(f'cannot pick {num_samples} points from a cloud of '
                         f'{num_points}')
    idx = torch.arange(num_samples, device=xyz.device) * num_points
    idx = torch.div(idx, num_samples, rounding_mode='floor')
    return idx.unsqueeze(0).expand(batch, -1).contiguous()


@contextlib.contextmanager
def sampler_stand_in(model: nn.Module) -> Iterator[None]:
    """Sample with :func:`evenly_spaced_sample` in the layers of ``model``.

    Sets the ``sampler`` of every
    :class:`~bpfn.models.layers.PointConvDown` of ``model`` and restores it
    on exit; other models (and the module globals of the layers) are left
    alone.

    Args:
        model (nn.Module): The network.
    """
    layers = [m for m in model.modules() if isinstance(m, PointConvDown)]
    saved = [layer.sampler for layer in layers]
    for layer in layers:
        layer.sampler = evenly_spaced_sample
    try:
        yield
    finally:
        for layer, sampler in zip(layers, saved):
            layer.sampler = sampler


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module,
                num_points: int = 8192,
                batch_size: int = 1,
                exact_fps: bool = False,
                seed: int = 0) -> FlopCount:
    """FLOPs of one forward pass of a flow network on random clouds.

    The features are the coordinates, as in the original. The model is put
    in eval mode; its device is used. It is traced with the reference
    algorithms, so ``flops_all`` counts the neighbour search as the
    original computes it (see the module docstring), on every device and
    inside or outside :func:`bpfn.ops.reference_algorithms`.

    Args:
        model (nn.Module): A network with ``extract(pc1, pc2)``.
        num_points (int): Points per cloud ``N``. Defaults to 8192.
        batch_size (int): ``B``. Defaults to 1.
        exact_fps (bool): Trace the real farthest point sampling (slow:
            one traced step per sampled point) instead of a stand-in of the
            same output shape. Defaults to False.
        seed (int): Seed of the random clouds. Defaults to 0.

    Returns:
        FlopCount: ``flops`` (published, thop-style convention),
        ``flops_all`` (MACs of conv, linear, matmul and einsum, the kNN
        distance matrices included), ``params`` and ``by_operator``.
    """
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    pc1 = torch.rand(batch_size, num_points, 3, generator=generator)
    pc2 = pc1 + 0.05 * torch.rand(
        batch_size, num_points, 3, generator=generator)
    wrapper = _ExtractWrapper(model)
    analyzer = FlopAnalyzer(wrapper, (pc1.to(device), pc2.to(device)))
    analyzer.clear_op_handles()
    analyzer.set_op_handle(**flop_op_handles())
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    context = contextlib.nullcontext() if exact_fps else sampler_stand_in(
        model)
    # One convention for the neighbour search, whatever the run-time path
    # (see the module docstring).
    with context, reference_algorithms(True), torch.no_grad():
        by_operator = Counter(analyzer.by_operator())
        by_module = analyzer.by_module_and_operator()
    # thop did not count the bias of nn.Linear modules: take those out.
    linear_module_bias = 0
    for name, module in wrapper.named_modules():
        if isinstance(module, nn.Linear) and name in by_module:
            linear_module_bias += by_module[name].get('linear_bias', 0)
    flops = (by_operator['conv'] + by_operator['conv_bias'] +
             by_operator['linear'] + by_operator['linear_bias'] -
             linear_module_bias + by_operator['leaky_relu'] +
             by_operator['batch_norm'])
    flops_all = sum(by_operator[key] for key in MAC_KEYS)
    return FlopCount(
        flops=int(flops),
        flops_all=int(flops_all),
        params=count_parameters(model),
        by_operator=dict(by_operator))
