"""Model building and inference for tools and notebooks."""
import difflib
import inspect
import re
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from bpfn.registry import MODELS
from bpfn.utils import is_distiller, load_model_weights, student_config

ArrayLike = Union[torch.Tensor, np.ndarray]


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
        dict: ``flows`` (4 tensors (B, 3, N_l), full resolution first),
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
