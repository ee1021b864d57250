"""Model building and inference for tools and notebooks."""
import copy
import difflib
import inspect
import re
from typing import List, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from torch import nn

from bpfn.datasets import flow_collate
from bpfn.ops import interpolate_three_nn
from bpfn.registry import MODELS
from bpfn.utils import is_distiller, load_model_weights, student_config

ArrayLike = Union[torch.Tensor, np.ndarray]

#: Query points interpolated at once when a flow is spread to every point.
UPSAMPLE_CHUNK = 16384
#: Test-pipeline steps that read files: inference is given the clouds.
LOADING_STEPS = ('LoadSceneFlowNpy', 'LoadScanPair')
#: Points per cloud where a config has no test pipeline to say.
DEFAULT_NUM_POINTS = 8192


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None,
               allow_unsafe: bool = False) -> nn.Module:
    """Build a model from a config and load a checkpoint, in eval mode.

    Args:
        config (str | Config): Config file path or loaded config.
        checkpoint (str, optional): A bpfn checkpoint, an original BPF file
            (plain state_dict, or under ``state_dict``), a distiller
            checkpoint (its student is kept) or a ``.safetensors`` file of
            weights (read without unpickling). Defaults to None.
        device (str | torch.device): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config.
        allow_unsafe (bool): Allow full unpickling of a trusted checkpoint.
            Defaults to False.

    Returns:
        nn.Module: The model, on ``device``, in eval mode.
    """
    if isinstance(config, str):
        config = Config.fromfile(config)
    elif not isinstance(config, Config):
        raise TypeError('config must be a file path or a Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError(f'config {config.filename} has no "model" field')
    init_default_scope(config.get('default_scope', 'bpfn'))
    model_cfg = config.model
    field = 'model'
    if is_distiller(model_cfg):  # a distiller config: its student
        model_cfg, field = student_config(model_cfg), 'model.student'
    try:
        model = MODELS.build(model_cfg)
    except TypeError as exc:
        raise _unknown_argument_error(exc, field) from exc
    if checkpoint is not None:
        load_model_weights(model, checkpoint, 'cpu', allow_unsafe)
    model.cfg = config
    return model.to(device).eval()


def _unknown_argument_error(exc: TypeError, field: str) -> TypeError:
    """Name the config key behind an "unexpected keyword argument" error."""
    match = re.search(r"(\w+)\.__init__\(\) got an unexpected keyword "
                      r"argument '(\w+)'", str(exc))
    cls = MODELS.get(match.group(1)) if match else None
    if cls is None:
        return exc
    key = match.group(2)
    valid = [
        name for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    return TypeError(f'{field}: unknown key {key!r} for {cls.__name__}{hint}; '
                     f'valid keys: {", ".join(valid)}')


def _as_batch(points: ArrayLike, name: str,
              device: torch.device) -> torch.Tensor:
    if not isinstance(points, torch.Tensor):
        points = np.asarray(points)
        if points.dtype.kind not in 'biuf':
            raise TypeError(f'{name} must hold floating point coordinates, '
                            f'got dtype {points.dtype}')
    points = torch.as_tensor(points)
    shape = tuple(points.shape)
    if points.dim() == 2:
        points = points.unsqueeze(0)
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f'{name} must have shape (N, 3) or (B, N, 3), got '
                         f'{shape}')
    if not points.is_floating_point():
        raise TypeError(f'{name} must hold floating point coordinates, got '
                        f'{points.dtype}')
    if not torch.isfinite(points).all():
        raise ValueError(f'{name} holds NaN or infinite values')
    return points.to(device=device, dtype=torch.float32)


@torch.no_grad()
def inference_flow(model: nn.Module,
                   pc1: ArrayLike,
                   pc2: ArrayLike,
                   feat1: Optional[ArrayLike] = None,
                   feat2: Optional[ArrayLike] = None) -> dict:
    """Scene flow of ``pc1`` towards ``pc2``.

    Args:
        model (nn.Module): A model from :func:`init_model`.
        pc1 (Tensor | ndarray): First cloud, (N, 3) or (B, N, 3).
        pc2 (Tensor | ndarray): Second cloud, (N, 3) or (B, N, 3).
        feat1, feat2 (Tensor | ndarray, optional): Point features, same
            shapes; default to the coordinates.

    Returns:
        dict: ``flows`` (4 tensors (B, N_l, 3), full resolution first),
        ``fps_idx_pc1`` and ``fps_idx_pc2`` (3 tensors (B, S_l)).
    """
    device = next(model.parameters()).device
    inputs = dict(pc1=_as_batch(pc1, 'pc1', device),
                  pc2=_as_batch(pc2, 'pc2', device))
    if feat1 is not None:
        inputs['feat1'] = _as_batch(feat1, 'feat1', device)
    if feat2 is not None:
        inputs['feat2'] = _as_batch(feat2, 'feat2', device)
    out = model(inputs, mode='tensor')
    return {k: out[k] for k in ('flows', 'fps_idx_pc1', 'fps_idx_pc2')}


def inference_pipeline(cfg: Config,
                       num_points: Optional[int] = None) -> List[dict]:
    """The config's test pipeline for clouds given as arrays.

    The pipeline of ``test_dataloader.dataset`` (the first dataset of a
    concatenation), without its file-loading steps; a config without one
    gets evaluation's sampling alone (``RandomSampleFlowPoints`` in
    deterministic mode, :data:`DEFAULT_NUM_POINTS` points, then
    ``PackFlowInputs``).

    Args:
        cfg (Config): The model's config.
        num_points (int, optional): Points sampled per cloud, replacing the
            pipeline's. Defaults to the pipeline's.

    Returns:
        list[dict]: Transform configs.
    """
    dataset = cfg.get('test_dataloader', None) or {}
    dataset = dataset.get('dataset', None) or {}
    while 'pipeline' not in dataset and dataset.get('datasets'):
        dataset = dataset['datasets'][0]
    steps = copy.deepcopy(list(dataset.get('pipeline', None) or []))
    steps = [step for step in steps
             if not (isinstance(step, dict)
                     and step.get('type') in LOADING_STEPS)]
    if not steps:
        steps = [dict(type='RandomSampleFlowPoints',
                      num_points=DEFAULT_NUM_POINTS, deterministic=True),
                 dict(type='PackFlowInputs')]
    for step in steps:
        if isinstance(step, dict) and step.get(
                'type') == 'RandomSampleFlowPoints' and num_points:
            step['num_points'] = int(num_points)
    return steps


@torch.no_grad()
def upsample_flow(points: torch.Tensor,
                  rows: torch.Tensor,
                  sampled_flow: torch.Tensor,
                  chunk: int = UPSAMPLE_CHUNK) -> torch.Tensor:
    """Flow of every point from the flow of some of them.

    The given rows keep their flow; every other point gets the
    inverse-distance weighted 3-NN interpolation of the given flows,
    ``chunk`` points at a time so that memory stays bounded.

    Args:
        points (Tensor): All points, (N, 3).
        rows (Tensor): Rows of the points with a flow, (S,) int.
        sampled_flow (Tensor): Their flow, (S, 3).
        chunk (int): Points interpolated at once. Defaults to 16384.

    Returns:
        Tensor: Flow of every point, (N, 3).
    """
    device = sampled_flow.device
    points = points.to(device)
    rows = torch.as_tensor(rows, dtype=torch.long, device=device)
    flow = torch.empty(points.shape[0], 3, dtype=sampled_flow.dtype,
                       device=device)
    known = torch.zeros(points.shape[0], dtype=torch.bool, device=device)
    known[rows] = True
    flow[rows] = sampled_flow
    rest = torch.nonzero(~known).squeeze(1)
    ref = points[rows].unsqueeze(0)  # 1, S, 3
    values = sampled_flow.unsqueeze(0)  # 1, S, 3
    for start in range(0, rest.numel(), chunk):
        part = rest[start:start + chunk]
        flow[part] = interpolate_three_nn(points[part].unsqueeze(0), ref,
                                          values)[0]
    return flow


@torch.no_grad()
def inference_scene(model: nn.Module,
                    pc1: ArrayLike,
                    pc2: ArrayLike,
                    num_points: Optional[int] = None,
                    sample_name: str = 'scene') -> dict:
    """Scene flow of every point of ``pc1``, as evaluation computes it.

    The clouds go through the config's test pipeline
    (:func:`inference_pipeline`: its filters and its deterministic
    sampling) and ``model.test_step``; the flow of the sampled points is
    then spread to every point of ``pc1`` (:func:`upsample_flow`). Each
    sampled point keeps its prediction; the others, including points a
    filter of the pipeline removed, get the 3-NN interpolation.

    Args:
        model (nn.Module): A model from :func:`init_model` (its ``cfg``
            gives the pipeline).
        pc1 (Tensor | ndarray): First cloud, (N1, 3).
        pc2 (Tensor | ndarray): Second cloud, (N2, 3).
        num_points (int, optional): Points sampled per cloud. Defaults to
            the test pipeline's.
        sample_name (str): Name of the pair in messages.
            Defaults to ``'scene'``.

    Returns:
        dict: ``flow`` (N1, 3) float32 and, for the points the network saw,
        ``rows`` (S,) int64 (their rows in ``pc1``) and ``sampled_flow``
        (S, 3), all on the model's device.
    """
    device = next(model.parameters()).device
    clouds = [_as_batch(c, name, torch.device('cpu'))[0].numpy()
              for c, name in ((pc1, 'pc1'), (pc2, 'pc2'))]
    cfg = getattr(model, 'cfg', None) or Config()
    pipeline = Compose(inference_pipeline(cfg, num_points))
    packed = pipeline(dict(
        pc1=clouds[0], pc2=clouds[1],
        pc1_rows=np.arange(len(clouds[0]), dtype=np.int64), sample_idx=0,
        sample_name=sample_name, dataset='inference', camera=None,
        test_mode=True, corresponding=False))
    pred = model.test_step(flow_collate([packed]))[0]
    rows = pred['pc1_rows'].to(device)
    flow = upsample_flow(torch.from_numpy(clouds[0]), rows,
                         pred['pred_flow'])
    return dict(flow=flow, rows=rows, sampled_flow=pred['pred_flow'])
