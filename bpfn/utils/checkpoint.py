"""Safe checkpoint loading and conversion of original BPF checkpoints."""
import os
from collections import OrderedDict
from typing import Any, Dict, Optional

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


def load_checkpoint_file(path: str,
                         map_location: Any = 'cpu',
                         allow_unsafe: bool = False) -> Any:
    """Load a checkpoint file, with ``weights_only=True`` unless allowed.

    Args:
        path (str): Checkpoint path.
        map_location: Passed to :func:`torch.load`. Defaults to ``'cpu'``.
        allow_unsafe (bool): Fall back to full unpickling, which can run
            arbitrary code: only for files you trust. Defaults to False.

    Returns:
        The loaded object.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    from .safe_globals import bpfn_safe_globals
    try:
        with torch.serialization.safe_globals(bpfn_safe_globals()):
            return torch.load(path, map_location=map_location,
                              weights_only=True)
    except Exception as exc:  # noqa: BLE001
        if allow_unsafe:
            return torch.load(path, map_location=map_location,
                              weights_only=False)
        if isinstance(exc, (EOFError, RuntimeError)) and \
                'weights_only' not in str(exc) and \
                'Unsupported global' not in str(exc):
            raise CheckpointError(
                f'checkpoint {path} is truncated or corrupt: {exc}') from exc
        raise CheckpointError(
            f'checkpoint {path} holds objects outside the types bpfn saves, '
            'and loading them could run code. Only if you trust the file, '
            'pass allow_unsafe=True (--unsafe-load in the tools). '
            f'Original error: {exc}') from exc


def extract_state_dict(ckpt: Any, path: str = '<checkpoint>'
                       ) -> 'OrderedDict[str, torch.Tensor]':
    """The model weights of a bpfn or original BPF checkpoint.

    Accepts a bpfn/MMEngine checkpoint (``state_dict`` key), an original BPF
    file (a plain state_dict, or one under ``state_dict`` / ``model``),
    ``module.`` prefixes of DataParallel, and distiller checkpoints (only the
    ``student.`` entries are kept).
    """
    if isinstance(ckpt, dict) and 'state_dict' in ckpt:
        state = ckpt['state_dict']
    elif isinstance(ckpt, dict) and 'model' in ckpt and isinstance(
            ckpt['model'], dict):
        state = ckpt['model']
    else:
        state = ckpt
    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{path} holds no state_dict of tensors')
    out = OrderedDict()
    has_student = any(k.startswith('student.') for k in state)
    for key, value in state.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if has_student:
            if not key.startswith('student.'):
                continue
            key = key[len('student.'):]
        out[key] = value
    return out


def load_model_weights(model: torch.nn.Module,
                       path: str,
                       map_location: Any = 'cpu',
                       allow_unsafe: bool = False) -> Dict[str, Any]:
    """Load a checkpoint into ``model`` strictly, with a clear mismatch error.

    Returns:
        dict: The checkpoint's ``meta`` (empty for original files).
    """
    ckpt = load_checkpoint_file(path, map_location, allow_unsafe)
    state = extract_state_dict(ckpt, path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f'{k}: checkpoint {tuple(state[k].shape)} vs model '
        f'{tuple(expected[k].shape)}' for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape)
    if missing or unexpected or mismatched:
        lines = [f'checkpoint {path} does not fit '
                 f'{type(model).__name__} (wrong architecture or config?)']
        for title, keys in (('missing keys', missing),
                            ('unexpected keys', unexpected),
                            ('shape mismatches', mismatched)):
            if keys:
                shown = ', '.join(keys[:20])
                more = f' ... and {len(keys) - 20} more' if len(keys) > 20 \
                    else ''
                lines.append(f'  {title} ({len(keys)}): {shown}{more}')
        raise CheckpointError('\n'.join(lines))
    model.load_state_dict(state, strict=True)
    meta: Optional[dict] = ckpt.get('meta') if isinstance(ckpt, dict) \
        else None
    return meta or {}
