"""ONNX export of flow networks and its parity check with onnxruntime.

The exported graph takes ``pc1`` and ``pc2`` (B, N, 3) float32 and returns
the flow of every pyramid level, full resolution first, each (B, N_l, 3).
Neighbour search and farthest point sampling are traced on their export
paths (:func:`bpfn.ops.export_algorithms`): standard ONNX operators only,
the same neighbours and samples. ``onnx`` and ``onnxruntime`` are optional
dependencies (``requirements/optional.txt``), imported only where needed.
"""
import io
import os.path as osp
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from bpfn.ops import NeighbourAudit, export_algorithms, neighbour_audit
from bpfn.utils import atomic_open

#: Names of the graph's inputs.
INPUT_NAMES = ('pc1', 'pc2')
#: The fixture tolerance of the parity check: per-point relative error.
P99_TOLERANCE = 1e-4
MAX_TOLERANCE = 2e-3


def output_names(num_levels: int) -> List[str]:
    """``flow`` (full resolution), then ``flow_level1`` ... coarser."""
    return ['flow'] + [f'flow_level{i}' for i in range(1, num_levels)]


class FlowExportWrapper(nn.Module):
    """A flow network as a function of two clouds, for export.

    Args:
        model (nn.Module): A flow network whose ``extract(pc1, pc2)`` returns
            ``flows`` (B, N_l, 3), full resolution first, such as
            :class:`~bpfn.models.BiPointFlowNet`, in eval mode.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pc1: Tensor, pc2: Tensor) -> Tuple[Tensor, ...]:
        """Clouds (B, N, 3) -> flows of every level (B, N_l, 3)."""
        flows = self.model.extract(pc1, pc2)['flows']
        return tuple(f.contiguous() for f in flows)


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f'ONNX export needs the optional package {module!r}: pip '
            'install -r requirements/optional.txt (onnx, onnxruntime)'
        ) from exc


def export_onnx(model: nn.Module,
                path: str,
                example: Tuple[Tensor, Tensor],
                opset: int = 17,
                dynamic_batch: bool = False) -> Dict[str, float]:
    """Export a flow network to an ONNX file, written atomically.

    The TorchScript-based exporter traces the network on ``example``; the
    farthest point sampling loop is scripted and becomes one ONNX ``Loop``.
    The number of points is fixed to the example's: the sizes of the
    pyramid's levels and the chunks of the layers are traced constants.

    Args:
        model (nn.Module): The flow network (eval mode, CPU).
        path (str): Output ``.onnx`` file.
        example (tuple[Tensor, Tensor]): ``pc1`` and ``pc2`` (B, N, 3)
            float32 to trace with.
        opset (int): ONNX opset. Defaults to 17.
        dynamic_batch (bool): Make the batch dimension dynamic.
            Defaults to False.

    Returns:
        dict: ``export_s`` (seconds) and ``size`` (bytes of the file).
    """
    _require('onnx')
    wrapper = FlowExportWrapper(model.eval())
    with torch.no_grad():
        num_levels = len(wrapper(*example))
    names = output_names(num_levels)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: 'batch'}
                        for name in (*INPUT_NAMES, *names)}
    buffer = io.BytesIO()
    start = time.perf_counter()
    with torch.no_grad(), export_algorithms(), warnings.catch_warnings():
        # The tracer warns about Python values it records as constants (the
        # pyramid's sizes), which is intended: the point count is fixed.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.onnx.export(
            wrapper, tuple(example), buffer, dynamo=False,
            input_names=list(INPUT_NAMES), output_names=names,
            opset_version=opset, dynamic_axes=dynamic_axes,
            do_constant_folding=True)
    export_s = time.perf_counter() - start
    with atomic_open(path, 'wb') as f:
        f.write(buffer.getvalue())
    return dict(export_s=export_s, size=osp.getsize(path))


def custom_domains(path: str) -> List[str]:
    """Operator domains of an ONNX file other than the standard ones."""
    onnx = _require('onnx')
    graph_model = onnx.load(path)
    found = set()

    def visit(graph) -> None:
        for node in graph.node:
            if node.domain not in ('', 'ai.onnx'):
                found.add(node.domain)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for sub in attr.graphs:
                    visit(sub)

    visit(graph_model.graph)
    return sorted(found)


def onnx_session(path: str, threads: Optional[int] = None,
                 providers: Optional[Sequence[str]] = None):
    """An onnxruntime session of an exported model.

    Args:
        path (str): The ``.onnx`` file.
        threads (int, optional): Intra-op threads (and one inter-op
            thread). Defaults to onnxruntime's choice.
        providers (Sequence[str], optional): Execution providers.
            Defaults to ``['CPUExecutionProvider']``.
    """
    ort = _require('onnxruntime')
    if not osp.isfile(path):
        raise FileNotFoundError(f'ONNX model not found: {path}')
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(
        path, options, providers=list(providers or ['CPUExecutionProvider']))


def ort_version() -> str:
    """The installed onnxruntime's version."""
    return _require('onnxruntime').__version__


def onnx_flows(session, pc1: Tensor, pc2: Tensor) -> List[np.ndarray]:
    """Run an exported model: flows of every level (B, N_l, 3)."""
    feed = {'pc1': pc1.detach().cpu().numpy().astype(np.float32),
            'pc2': pc2.detach().cpu().numpy().astype(np.float32)}
    return session.run(None, feed)


def flow_errors(pred: Sequence, ref: Sequence[Tensor]) -> Dict[str, float]:
    """Per-point relative errors of flows, as the fixture tolerance reads.

    For each level: each point's largest absolute error over x, y, z over
    the level's largest absolute reference value; the 99th percentile and
    the maximum over all levels.

    Args:
        pred (Sequence): Flows (B, N_l, 3) to check (arrays or tensors).
        ref (Sequence[Tensor]): Reference flows (B, N_l, 3).

    Returns:
        dict: ``p99``, ``max`` and ``ok`` (both within the tolerance).
    """
    if len(pred) != len(ref):
        raise ValueError(f'{len(pred)} flow levels to check against '
                         f'{len(ref)} reference levels')
    p99 = worst = 0.
    for got, expected in zip(pred, ref):
        got = torch.as_tensor(np.asarray(got)).double()
        expected = expected.detach().cpu().double()
        if got.shape != expected.shape:
            raise ValueError(f'flow of shape {tuple(got.shape)} against a '
                             f'reference of {tuple(expected.shape)}')
        err = (got - expected).abs().amax(-1).flatten()
        err = err / expected.abs().max().clamp_min(1e-30)
        p99 = max(p99, torch.quantile(err, 0.99).item())
        worst = max(worst, err.max().item())
    return dict(p99=p99, max=worst,
                ok=p99 <= P99_TOLERANCE and worst <= MAX_TOLERANCE)


@torch.no_grad()
def reference_flows(model: nn.Module,
                    pc1: Tensor,
                    pc2: Tensor,
                    export_path: bool = False) -> List[Tensor]:
    """bpfn's own flows in PyTorch, in the exported layout (B, N_l, 3).

    Args:
        model (nn.Module): The flow network.
        pc1, pc2 (Tensor): Clouds (B, N, 3).
        export_path (bool): Run the ops' export paths
            (:func:`bpfn.ops.export_algorithms`): what the exported graph
            computes, equal distances between neighbour candidates taken in
            index order as ONNX ``TopK`` takes them. Otherwise bpfn's
            default paths, where ``torch.topk``'s selection order decides
            between equal distances. Defaults to False.

    Returns:
        list[Tensor]: Flows of every level, full resolution first.
    """
    with export_algorithms(export_path):
        return list(FlowExportWrapper(model.eval())(pc1, pc2))


@torch.no_grad()
def audited_default_flows(model: nn.Module, pc1: Tensor,
                          pc2: Tensor) -> Tuple[List[Tensor], NeighbourAudit]:
    """bpfn's default-path flows, every search checked against the export
    path's on the same inputs (:func:`bpfn.ops.neighbour_audit`).

    Where these flows differ from the exported graph's, the audit tells
    whether only exactly tied neighbour candidates were taken differently
    (``audit.exact``) or something else differs.

    Args:
        model (nn.Module): The flow network.
        pc1, pc2 (Tensor): Clouds (B, N, 3).

    Returns:
        tuple[list[Tensor], NeighbourAudit]: Flows of every level
        (B, N_l, 3), full resolution first, and the audit.
    """
    with neighbour_audit() as audit:
        flows = reference_flows(model, pc1, pc2)
    return flows, audit
