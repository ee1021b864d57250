"""Safe checkpoint loading and conversion of original BPF checkpoints."""
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional

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
        hint = ''
        if 'getattr' in str(exc):
            hint = ('(it pickles builtins.getattr, as the message hub '
                    "HistoryBuffer of MMEngine's own Runner does; "
                    'BPFNRunner saves it as SafeHistoryBuffer) ')
        raise CheckpointError(
            f'checkpoint {path} holds objects outside the types bpfn saves '
            f'{hint}and loading them could run code. Only if you trust the '
            'file, pass allow_unsafe=True (--unsafe-load in tools/train.py '
            f'and tools/test.py). Original error: {exc}') from exc


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


def check_state_dict(model: torch.nn.Module, state: Dict[str, torch.Tensor],
                     path: str) -> None:
    """Raise a :class:`CheckpointError` listing every key that does not fit.

    Args:
        model (nn.Module): The model to load into.
        state (dict[str, Tensor]): The weights to load.
        path (str): The checkpoint's name, for the message.
    """
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
    check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True)
    meta: Optional[dict] = ckpt.get('meta') if isinstance(ckpt, dict) \
        else None
    return meta or {}


#: Names of the checkpoints the runner writes, newest = largest number.
_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a complete torch zip checkpoint.

    Checks the zip structure and the CRC of every record without unpickling
    anything, so it is safe on untrusted files and catches truncated writes.

    Args:
        path (str): Checkpoint path.

    Returns:
        bool: True when the file exists and every record is intact.
    """
    if not osp.isfile(path) or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(n.endswith('/data.pkl') or n == 'data.pkl'
                       for n in names):
                return False
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False


def list_checkpoints(work_dir: str) -> List[str]:
    """Checkpoints of a work dir, newest first.

    The file named by MMEngine's ``last_checkpoint`` pointer comes first,
    then ``epoch_*.pth`` / ``iter_*.pth`` by decreasing number.

    Args:
        work_dir (str): A training work dir.

    Returns:
        list[str]: Paths, possibly incomplete ones included.
    """
    found = []
    for name in os.listdir(work_dir):
        match = _CKPT_NAME.match(name)
        if match:
            found.append((int(match.group(2)), name))
    ordered = [osp.join(work_dir, name) for _, name in sorted(found,
                                                                reverse=True)]
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            target = f.read().strip()
        if target:
            if not osp.isabs(target) and not osp.exists(target):
                target = osp.join(work_dir, osp.basename(target))
            ordered = [target] + [
                p for p in ordered
                if osp.abspath(p) != osp.abspath(target)
            ]
    return ordered


def find_latest_checkpoint(work_dir: str,
                           log: Optional[Callable[[str], Any]] = None
                           ) -> str:
    """The newest complete checkpoint of a work dir.

    Follows the ``last_checkpoint`` pointer and falls back to scanning the
    folder; truncated or corrupt files are reported by name (through
    ``log``) and skipped in favour of the previous one.

    Args:
        work_dir (str): A training work dir.
        log (Callable[[str], Any], optional): Receives warnings.
            Defaults to None (silent).

    Returns:
        str: Path of the checkpoint.

    Raises:
        CheckpointError: If the folder does not exist or holds no complete
            checkpoint.
    """
    if not osp.isdir(work_dir):
        raise CheckpointError(
            f'work dir {work_dir} does not exist; expected a folder with '
            'epoch_*.pth / iter_*.pth checkpoints of a training run')
    candidates = list_checkpoints(work_dir)
    skipped = []
    for path in candidates:
        if is_complete_checkpoint(path):
            if skipped and log is not None:
                log(f'using the previous complete checkpoint {path}')
            return path
        skipped.append(path)
        if log is not None:
            reason = 'missing' if not osp.exists(path) else \
                'truncated or corrupt'
            log(f'checkpoint {path} is {reason}; skipping it')
    if skipped:
        raise CheckpointError(
            f'work dir {work_dir} holds no complete checkpoint; skipped '
            f'{", ".join(osp.basename(p) for p in skipped)} (truncated or '
            'corrupt)')
    raise CheckpointError(
        f'work dir {work_dir} holds no checkpoint to resume from (no '
        'last_checkpoint pointer, no epoch_*.pth or iter_*.pth): train '
        'first, or pass a checkpoint file')


def resolve_checkpoint(path: str,
                       log: Optional[Callable[[str], Any]] = None) -> str:
    """A checkpoint file from a file or work dir path.

    Args:
        path (str): A checkpoint file, or a work dir (its newest complete
            checkpoint is taken, see :func:`find_latest_checkpoint`).
        log (Callable[[str], Any], optional): Receives warnings.

    Returns:
        str: A checkpoint file path.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
    """
    if osp.isdir(path):
        return find_latest_checkpoint(path, log)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'checkpoint not found: {path} (expected a .pth file or a work '
            'dir holding checkpoints)')
    return path
