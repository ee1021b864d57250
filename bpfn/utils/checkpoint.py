"""Checkpoint loading with integrity checks, and checkpoint resolution.

Every checkpoint bpfn reads goes through :func:`load_checkpoint_file`:
``tools/test.py``, ``--resume``, ``load_from``, the demo and
:func:`bpfn.apis.init_model`, the model converters and the distillers'
``teacher_ckpt`` (through :func:`load_model_weights`). It checks the file's
zip archive (every record present and matching its CRC-32) before
unpickling anything, then loads with ``torch.load(weights_only=True)``.
"""
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from typing import (Any, Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import torch
from mmengine.logging import print_log


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


#: Entries of a distiller's state dict hold the student under this prefix.
STUDENT_PREFIX = 'student.'


def _is_zip(path: str) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def verify_checkpoint_archive(path: str) -> str:
    """Check that a checkpoint file is complete and unaltered.

    A torch checkpoint (``torch.save`` since torch 1.6) is a zip archive;
    every record (the pickle and each tensor storage) carries a CRC-32.
    All records are read and their CRCs compared, without unpickling
    anything, so the check is safe on untrusted files and catches truncated
    writes as well as bytes changed after saving (torch itself does not
    compare the CRCs). It reads the file once (about 20 ms for 32 MB from
    the page cache). Files in torch's legacy (pre-zip) format carry no
    checksums and are not checked.

    Args:
        path (str): Checkpoint path.

    Returns:
        str: ``'zip'``, or ``'legacy'`` for a legacy (unchecked) file.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        CheckpointError: If the file is empty, truncated, or a record is
            missing, unreadable or fails its CRC check; the message names
            the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(
            f'checkpoint {path} is truncated or corrupt: the file is empty')
    if not _is_zip(path):
        if head.startswith(b'PK'):
            raise CheckpointError(
                f'checkpoint {path} is truncated or corrupt: the zip archive '
                'has no end record (an interrupted write?)')
        return 'legacy'
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(n == 'data.pkl' or n.endswith('/data.pkl')
                       for n in names):
                raise CheckpointError(
                    f'checkpoint {path} is corrupt or altered: its archive '
                    'holds no data.pkl record (not a torch checkpoint?)')
            bad = archive.testzip()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        raise CheckpointError(
            f'checkpoint {path} is truncated or corrupt: {exc}') from exc
    if bad is not None:
        raise CheckpointError(
            f'checkpoint {path} is corrupt or altered: record {bad} does not '
            'match its CRC-32 (its bytes changed after it was saved); '
            'restore the file or use another checkpoint')
    return 'zip'


def checkpoint_problem(path: str) -> Optional[str]:
    """What is wrong with a checkpoint file, in a few words, or None.

    Args:
        path (str): Checkpoint path.

    Returns:
        str | None: ``'missing'``, ``'truncated or corrupt'``,
        ``'corrupt or altered'``, or None for an intact file.
    """
    try:
        verify_checkpoint_archive(path)
    except FileNotFoundError:
        return 'missing'
    except CheckpointError as exc:
        return 'corrupt or altered' if 'corrupt or altered' in str(exc) \
            else 'truncated or corrupt'
    return None


#: File name ending of weights in the safetensors format.
SAFETENSORS_SUFFIX = '.safetensors'


def is_safetensors_file(path: str) -> bool:
    """Whether ``path`` names a safetensors file (by its ending)."""
    return str(path).endswith(SAFETENSORS_SUFFIX)


def load_safetensors_file(path: str,
                          map_location: Any = 'cpu'
                          ) -> 'OrderedDict[str, torch.Tensor]':
    """Read the tensors of a ``.safetensors`` file (no unpickling at all).

    The format is a JSON header of names, dtypes, shapes and byte ranges,
    then the raw bytes; a file whose header or data is cut short is
    refused by the reader.

    Args:
        path (str): The file.
        map_location: A device name for the tensors; anything else loads
            them on the CPU. Defaults to ``'cpu'``.

    Returns:
        OrderedDict[str, Tensor]: The tensors, a plain state dict.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ImportError: If the optional package ``safetensors`` is missing.
        CheckpointError: If the file is not a complete safetensors file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        from safetensors.torch import load_file
    except ImportError as exc:
        raise ImportError(
            f'loading {path} needs the optional package safetensors (pip '
            'install safetensors)') from exc
    device = map_location if isinstance(map_location, str) else 'cpu'
    try:
        state = load_file(path, device=device)
    except Exception as exc:  # noqa: BLE001 (the reader's own error types)
        raise CheckpointError(
            f'checkpoint {path} is truncated or corrupt: not a complete '
            f'safetensors file ({exc})') from exc
    if not state:
        raise CheckpointError(f'checkpoint {path} holds no tensors')
    return OrderedDict(state)


def load_checkpoint_file(path: str,
                         map_location: Any = 'cpu',
                         allow_unsafe: bool = False) -> Any:
    """Check a checkpoint file, then load it with ``weights_only=True``.

    The archive is checked first (:func:`verify_checkpoint_archive`), also
    with ``allow_unsafe``. A ``.safetensors`` file holds weights only and is
    read without unpickling (:func:`load_safetensors_file`); it gives a
    plain state dict.

    Args:
        path (str): Checkpoint path.
        map_location: Passed to :func:`torch.load`. Defaults to ``'cpu'``.
        allow_unsafe (bool): Fall back to full unpickling, which can run
            arbitrary code: only for files you trust. Defaults to False.

    Returns:
        The loaded object.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        CheckpointError: If the file is truncated, corrupt or altered, or
            holds objects outside the allowlist.
    """
    if is_safetensors_file(path):
        return load_safetensors_file(path, map_location)
    verify_checkpoint_archive(path)
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


def _type_name(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return 'bare Tensor'
    return type(value).__name__


def _shown(items: Sequence[str], limit: int = 5) -> str:
    more = f' ... and {len(items) - limit} more' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


def checkpoint_state(ckpt: Any, path: str = '<checkpoint>'
                     ) -> 'OrderedDict[str, torch.Tensor]':
    """The state dict of a loaded checkpoint, as saved (keys unchanged).

    Takes ``ckpt['state_dict']``, else ``ckpt['model']`` (some original
    files), else ``ckpt`` itself (a plain state dict).

    Args:
        ckpt (Any): What :func:`load_checkpoint_file` returned.
        path (str): The checkpoint's name, for messages.

    Returns:
        OrderedDict[str, Tensor]: The state dict.

    Raises:
        CheckpointError: If ``ckpt`` is not a dict (a bare tensor, a list
            ...) or its state dict holds values that are not tensors; the
            message names the file and a few offending keys.
    """
    expected = ("expected a state dict (a dict of tensors, as "
                "model.state_dict() returns) or a checkpoint dict with a "
                "'state_dict' entry")
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'checkpoint {path} holds a {_type_name(ckpt)}; {expected}')
    if 'state_dict' in ckpt:
        state, where = ckpt['state_dict'], "its 'state_dict' entry"
    elif isinstance(ckpt.get('model'), dict):
        state, where = ckpt['model'], "its 'model' entry"
    else:
        state, where = ckpt, 'it'
    if not isinstance(state, dict):
        raise CheckpointError(
            f'checkpoint {path}: {where} is a {_type_name(state)}; '
            f'{expected}')
    if not state:
        raise CheckpointError(f'checkpoint {path}: {where} is empty; '
                              f'{expected}')
    bad = [f'{k} ({_type_name(v)})' for k, v in state.items()
           if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f'checkpoint {path} holds no state dict of tensors: in {where}, '
            + ('1 entry is not a tensor' if len(bad) == 1 else
               f'{len(bad)} entries are not tensors')
            + f': {_shown(bad)}; {expected}')
    return state if isinstance(state, OrderedDict) else OrderedDict(state)


def is_distiller_state(keys: Iterable[str]) -> bool:
    """Whether state dict keys are a distiller's (``student.*`` entries).

    This is the one test bpfn uses to tell a distiller's checkpoint (or
    model) from a network's; DataParallel's ``module.`` prefix is ignored.

    Args:
        keys (Iterable[str]): State dict keys.

    Returns:
        bool: True if any key starts with ``student.``.
    """
    return any(_strip_module(k).startswith(STUDENT_PREFIX) for k in keys)


def _strip_module(key: str) -> str:
    return key[len('module.'):] if key.startswith('module.') else key


def extract_state_dict(ckpt: Any, path: str = '<checkpoint>'
                       ) -> 'OrderedDict[str, torch.Tensor]':
    """The network weights of a bpfn or original BPF checkpoint.

    Accepts a bpfn/MMEngine checkpoint (``state_dict`` key), an original BPF
    file (a plain state_dict, or one under ``state_dict`` / ``model``),
    ``module.`` prefixes of DataParallel, and distiller checkpoints (only the
    ``student.`` entries are kept, without the prefix).

    Raises:
        CheckpointError: See :func:`checkpoint_state`.
    """
    state = checkpoint_state(ckpt, path)
    out = OrderedDict()
    has_student = is_distiller_state(state)
    for key, value in state.items():
        key = _strip_module(key)
        if has_student:
            if not key.startswith(STUDENT_PREFIX):
                continue
            key = key[len(STUDENT_PREFIX):]
        out[key] = value
    return out


def check_state_dict(model: torch.nn.Module,
                     state: Dict[str, torch.Tensor],
                     path: str,
                     ignore: Sequence[str] = ()) -> None:
    """Raise a :class:`CheckpointError` listing every key that does not fit.

    Keys must match, and so must every tensor's shape and dtype: a float16
    or float64 checkpoint is not cast silently into a float32 model, and an
    integer buffer (e.g. ``num_batches_tracked``) must stay an integer.

    Args:
        model (nn.Module): The model to load into.
        state (dict[str, Tensor]): The weights to load.
        path (str): The checkpoint's name, for the message.
        ignore (Sequence[str]): Key prefixes left out of the check.
            Defaults to ().
    """

    def kept(keys: Iterable[str]) -> set:
        return {k for k in keys if not k.startswith(tuple(ignore))} \
            if ignore else set(keys)

    expected = model.state_dict()
    model_keys, ckpt_keys = kept(expected), kept(state)
    missing = sorted(model_keys - ckpt_keys)
    unexpected = sorted(ckpt_keys - model_keys)
    common = sorted(model_keys & ckpt_keys)
    mismatched = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs model '
        f'{tuple(expected[k].shape)}' for k in common
        if state[k].shape != expected[k].shape]
    dtypes = [
        f'{k}: checkpoint {state[k].dtype} vs model {expected[k].dtype}'
        for k in common if state[k].dtype != expected[k].dtype]
    if missing or unexpected or mismatched or dtypes:
        lines = [f'checkpoint {path} does not fit '
                 f'{type(model).__name__} (wrong architecture or config?)']
        for title, keys in (('missing keys', missing),
                            ('unexpected keys', unexpected),
                            ('shape mismatches', mismatched),
                            ('dtype mismatches', dtypes)):
            if keys:
                shown = ', '.join(keys[:20])
                more = f' ... and {len(keys) - 20} more' if len(keys) > 20 \
                    else ''
                lines.append(f'  {title} ({len(keys)}): {shown}{more}')
        if dtypes:
            lines.append('  tensors are not cast on loading: convert the '
                         "checkpoint to the model's dtypes first")
        raise CheckpointError('\n'.join(lines))


def load_model_weights(model: torch.nn.Module,
                       path: str,
                       map_location: Any = 'cpu',
                       allow_unsafe: bool = False) -> Dict[str, Any]:
    """Load a checkpoint into ``model`` strictly, with a clear mismatch error.

    The file is checked (:func:`load_checkpoint_file`), then every key,
    shape and dtype (:func:`check_state_dict`).

    Returns:
        dict: The checkpoint's ``meta`` (empty for original files).
    """
    ckpt = load_checkpoint_file(path, map_location, allow_unsafe)
    state = extract_state_dict(ckpt, path)
    check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True)
    meta: Optional[dict] = ckpt.get('meta') if isinstance(ckpt, dict) \
        else None
    return meta if isinstance(meta, dict) else {}


# ---------------------------------------------------------------------------
# Finding the checkpoint to resume from.

#: Pointer file of MMEngine's CheckpointHook, in the work dir.
POINTER_NAME = 'last_checkpoint'
#: Names of the checkpoints the runner writes: ``epoch_3.pth``,
#: ``iter_12.pth`` and, saved on a signal mid-epoch, ``epoch_2_iter_11.pth``
#: (2 epochs done, 11 iterations in all).
CKPT_NAME = re.compile(
    r'^(?P<kind>epoch|iter)_(?P<num>\d+)(?:_iter_(?P<sub>\d+))?\.pth$')


def checkpoint_order(name: str) -> Optional[Tuple[str, int, int]]:
    """``(kind, number, sub-number)`` of a checkpoint name, newest largest.

    Args:
        name (str): File name, e.g. ``'epoch_3.pth'``.

    Returns:
        tuple | None: ``('epoch', 3, 0)``; ``('epoch', 2, 11)`` for
        ``epoch_2_iter_11.pth`` (newer than ``epoch_2.pth``, older than
        ``epoch_3.pth``); None for other names.
    """
    match = CKPT_NAME.match(name)
    if match is None:
        return None
    return (match.group('kind'), int(match.group('num')),
            int(match.group('sub') or 0))


def write_last_checkpoint(work_dir: str, path: str) -> None:
    """Write the ``last_checkpoint`` pointer atomically.

    The pointer holds the path relative to the work dir when the
    checkpoint lies inside it (so a copied or moved work dir points at its
    own files), else the absolute path.

    Args:
        work_dir (str): The work dir.
        path (str): The checkpoint just saved.
    """
    from .fileio import atomic_write_text
    work = osp.realpath(work_dir)
    target = osp.realpath(path)
    if osp.commonpath([work, target]) == work:
        target = osp.relpath(target, work)
    atomic_write_text(target, osp.join(work_dir, POINTER_NAME))


def read_last_checkpoint(work_dir: str,
                         log: Optional[Callable[[str], Any]] = None
                         ) -> Optional[str]:
    """The checkpoint named by a work dir's ``last_checkpoint`` pointer.

    A relative pointer is taken relative to the work dir, as bpfn writes
    it; MMEngine writes it relative to the folder training ran in, so if
    that file is missing the work dir's file of the same name is taken. An
    absolute pointer naming another folder (a work dir copied or moved with
    its pointer) is replaced by the work dir's file of the same name when
    there is one, and ``log`` says so.

    Args:
        work_dir (str): The work dir.
        log (Callable[[str], Any], optional): Receives warnings.

    Returns:
        str | None: The path, or None without a (non-empty) pointer.
    """
    pointer = osp.join(work_dir, POINTER_NAME)
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        target = f.read().strip()
    if not target:
        return None
    local = osp.join(work_dir, osp.basename(target))
    if not osp.isabs(target):
        # bpfn writes it relative to the work dir; MMEngine relative to the
        # folder training ran in (with a relative work dir).
        joined = osp.join(work_dir, target)
        return local if not osp.isfile(joined) and osp.isfile(local) \
            else joined
    if osp.realpath(osp.dirname(target)) != osp.realpath(work_dir) and \
            osp.isfile(local):
        if log is not None:
            log(f'last_checkpoint names {target} in another folder (a copied '
                f'or moved work dir?); using this work dir\'s {local}')
        return local
    return target


def list_checkpoints(work_dir: str,
                     log: Optional[Callable[[str], Any]] = None
                     ) -> Tuple[List[str], Optional[str]]:
    """Checkpoints of a work dir, newest first, and the pointer's target.

    ``epoch_*.pth`` / ``iter_*.pth`` files (of the work dir, and of the
    pointer's folder when checkpoints are saved elsewhere) are ordered by
    their numbers; the file the pointer names takes its place by number,
    or comes first when its name has no number. Should both kinds be
    present, the kind of the pointer's file (else of the most recently
    modified file) counts as newer.

    Args:
        work_dir (str): A training work dir.
        log (Callable[[str], Any], optional): Receives warnings.

    Returns:
        tuple[list[str], str | None]: Paths (possibly incomplete or
        missing ones), and the pointer's target or None.
    """
    pointer = read_last_checkpoint(work_dir, log)
    folders = [work_dir]
    if pointer is not None and osp.isdir(osp.dirname(pointer)) and \
            osp.realpath(osp.dirname(pointer)) != osp.realpath(work_dir):
        folders.append(osp.dirname(pointer))
    found: Dict[str, Tuple[str, int, int]] = {}
    for folder in folders:
        for name in os.listdir(folder):
            order = checkpoint_order(name)
            if order is not None:
                found[osp.join(folder, name)] = order
    unnumbered = None
    if pointer is not None:
        order = checkpoint_order(osp.basename(pointer))
        same = [p for p in found if osp.realpath(p) == osp.realpath(pointer)]
        for p in same:
            del found[p]
        if order is None:
            unnumbered = pointer
        else:
            found[pointer] = order
    kinds = {order[0] for order in found.values()}
    preferred = None
    if len(kinds) > 1:
        if pointer is not None and pointer in found:
            preferred = found[pointer][0]
        else:
            newest = max(found, key=lambda p: osp.getmtime(p)
                         if osp.exists(p) else 0.0)
            preferred = found[newest][0]
    ordered = sorted(
        found, reverse=True,
        key=lambda p: (found[p][0] == preferred, found[p][1], found[p][2]))
    if unnumbered is not None:
        ordered.insert(0, unnumbered)
    return ordered, pointer


def find_latest_checkpoint(work_dir: str,
                           log: Optional[Callable[[str], Any]] = None
                           ) -> str:
    """The newest intact checkpoint of a work dir.

    The ``last_checkpoint`` pointer is compared with the ``epoch_*.pth`` /
    ``iter_*.pth`` files (:func:`list_checkpoints`): the newest file whose
    archive is intact (:func:`checkpoint_problem`) is taken. Truncated,
    corrupt or altered files are reported by name (through ``log``) and
    skipped; a pointer that names an older file than the newest intact one
    (a run killed before updating it, or a copied work dir) is reported
    too.

    Args:
        work_dir (str): A training work dir.
        log (Callable[[str], Any], optional): Receives warnings.
            Defaults to None (silent).

    Returns:
        str: Path of the checkpoint.

    Raises:
        CheckpointError: If the folder does not exist or holds no intact
            checkpoint.
    """
    if not osp.isdir(work_dir):
        raise CheckpointError(
            f'work dir {work_dir} does not exist; expected a folder with '
            'epoch_*.pth / iter_*.pth checkpoints of a training run')
    candidates, pointer = list_checkpoints(work_dir, log)
    skipped = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            if log is not None:
                _report_choice(path, pointer, candidates, skipped, log)
            return path
        skipped.append(path)
        if log is not None:
            if problem == 'missing' and path == pointer:
                log(f'last_checkpoint names {path}, which is missing; '
                    'skipping it')
            else:
                log(f'checkpoint {path} is {problem}; skipping it')
    if skipped:
        raise CheckpointError(
            f'work dir {work_dir} holds no complete checkpoint; skipped '
            + ', '.join(f'{osp.basename(p)} ({checkpoint_problem(p)})'
                        for p in skipped))
    raise CheckpointError(
        f'work dir {work_dir} holds no checkpoint to resume from (no '
        'last_checkpoint pointer, no epoch_*.pth or iter_*.pth): train '
        'first, or pass a checkpoint file')


def _report_choice(path: str, pointer: Optional[str], candidates: List[str],
                   skipped: List[str], log: Callable[[str], Any]) -> None:
    """Say why ``path`` and not the pointer's file was chosen."""
    if pointer is not None and path != pointer and pointer in candidates \
            and candidates.index(path) < candidates.index(pointer):
        log(f'last_checkpoint names {osp.basename(pointer)}, but {path} is '
            'newer and intact (the pointer is stale: a run stopped before '
            'updating it, or a copied work dir); resuming from the newest '
            'intact checkpoint')
    elif skipped:
        log(f'using the previous complete checkpoint {path}')


def resolve_checkpoint(path: str,
                       log: Optional[Callable[[str], Any]] = None) -> str:
    """A checkpoint file from a file or work dir path.

    Args:
        path (str): A checkpoint file, or a work dir (its newest intact
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


def _log(msg: str, warning: bool = False) -> None:
    """Log ``msg`` to MMEngine's current logger (a warning if asked)."""
    print_log(msg, logger='current', level=30 if warning else 20)


def resolve_teacher_checkpoint(path: Optional[str],
                               field: str = 'model.teacher_ckpt') -> str:
    """A checkpoint file from a file path or a work directory.

    A directory is resolved as ``tools/test.py`` resolves one
    (:func:`select_checkpoint`): its best checkpoint
    (``best_*.pth``, the newest if several) when one is intact, else its
    newest intact epoch / iter checkpoint. The file chosen and why are
    logged. Errors name the config ``field``.

    Args:
        path (str, optional): File or work directory.
        field (str): Config field named in errors.
            Defaults to ``'model.teacher_ckpt'``.

    Returns:
        str: Path of an existing checkpoint file.
    """
    if not path:
        raise ValueError(f'{field} is required: set it to the teacher '
                         'checkpoint (a .pth file or a work dir)')
    if osp.isdir(path):
        if not osp.isfile(osp.join(path, POINTER_NAME)):
            raise FileNotFoundError(
                f'{field}={path!r} is a directory without a last_checkpoint '
                'file: train the teacher there first, or give a .pth file')
        try:
            path, why = select_checkpoint(
                path, lambda msg: _log(f'{field}: {msg}', warning=True))
        except CheckpointError as exc:
            raise FileNotFoundError(f'{field}: {exc}') from exc
        _log(f'{field}: {why}')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{field}: teacher checkpoint {path!r} not found; train the '
            'teacher or download its weights, then set ' + field)
    return path


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a complete, unaltered torch zip checkpoint.

    See :func:`verify_checkpoint_archive`; legacy (pre-zip) files, which
    carry no checksums, do not count as complete here.

    Args:
        path (str): Checkpoint path.

    Returns:
        bool: True when the file exists and every record is intact.
    """
    return checkpoint_problem(path) is None and _is_zip(path)


# ---------------------------------------------------------------------------
# Choosing the checkpoint to evaluate: the best one first.

#: Names of the best checkpoints of MMEngine's ``CheckpointHook`` with
#: ``save_best`` (and of :class:`bpfn.engine.hooks.SafeCheckpointHook`):
#: ``best_EPE3D_epoch_7.pth``, ``best_Synthetic_EPE3D_iter_120.pth`` (a
#: ``/`` in the metric key is written as ``_``).
BEST_NAME = re.compile(
    r'^best_(?P<key>.+)_(?P<kind>epoch|iter)_(?P<num>\d+)\.pth$')


def best_checkpoints(work_dir: str) -> List[Tuple[str, str]]:
    """The ``best_*.pth`` files of a work dir, newest first.

    Args:
        work_dir (str): A training work dir.

    Returns:
        list[tuple[str, str]]: ``(path, metric key)`` pairs, ordered by
        their epoch / iteration number, then modification time.
    """
    found = []
    for name in os.listdir(work_dir):
        match = BEST_NAME.match(name)
        if match is None:
            continue
        path = osp.join(work_dir, name)
        found.append((int(match.group('num')), osp.getmtime(path), path,
                      match.group('key')))
    found.sort(reverse=True)
    return [(path, key) for _, _, path, key in found]


def save_best_keys(cfg: Any) -> List[str]:
    """Metric keys of ``default_hooks.checkpoint.save_best`` of a config.

    Args:
        cfg (Config | dict | None): The run's config.

    Returns:
        list[str]: The keys in the config's order (``/`` written as ``_``,
        as in the file names); empty without ``save_best`` or with
        ``'auto'``.
    """
    hooks = (cfg.get('default_hooks', None) if cfg is not None else None) \
        or {}
    checkpoint = hooks.get('checkpoint', None) or {}
    keys = checkpoint.get('save_best', None)
    if not keys:
        return []
    keys = [keys] if isinstance(keys, str) else list(keys)
    return [k.replace('/', '_') for k in keys if k != 'auto']


def select_checkpoint(path: str,
                      log: Optional[Callable[[str], Any]] = None,
                      save_best: Sequence[str] = ()) -> Tuple[str, str]:
    """The checkpoint to evaluate from a file or work dir, and why.

    This is how ``tools/test.py``, ``demo/flow_demo.py``,
    ``compare_flows.py`` and a distiller's ``teacher_ckpt`` read a work
    dir (resuming still takes the newest checkpoint,
    :func:`find_latest_checkpoint`). The rule:

    1. the best checkpoint (``best_<key>_epoch_<n>.pth``, written by the
       checkpoint hook's ``save_best``): of the metric named first in
       ``save_best`` that has a file, else the newest ``best_*.pth``;
    2. a best checkpoint that is truncated, corrupt or altered is not used:
       ``log`` names it and its problem, and the next best file (then the
       newest checkpoint) is taken;
    3. without an intact ``best_*.pth``, the newest intact epoch / iter
       checkpoint (:func:`find_latest_checkpoint`).

    Args:
        path (str): A checkpoint file, or a work dir.
        log (Callable[[str], Any], optional): Receives warnings.
        save_best (Sequence[str]): Metric keys of the run's ``save_best``,
            in order (:func:`save_best_keys`). Defaults to ().

    Returns:
        tuple[str, str]: The file, and why it was chosen, e.g.
        ``'best checkpoint best_EPE3D_epoch_7.pth (save_best EPE3D)'`` or
        ``'newest checkpoint epoch_10.pth (no best_*.pth)'``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        CheckpointError: If a work dir holds no intact checkpoint.
    """
    if not osp.isdir(path):
        return resolve_checkpoint(path, log), 'checkpoint file given'
    bests = best_checkpoints(path)
    keys = list(save_best)
    bests.sort(key=lambda item: keys.index(item[1]) if item[1] in keys
               else len(keys))
    corrupt = []
    for best, key in bests:
        problem = checkpoint_problem(best)
        if problem is not None:
            corrupt.append(f'{osp.basename(best)} is {problem}')
            if log is not None:
                log(f'best checkpoint {best} is {problem}; not using it')
            continue
        name = osp.basename(best)
        why = f'save_best {key}' if key in keys else \
            'the newest best_*.pth'
        return best, f'best checkpoint {name} ({why})'
    newest = find_latest_checkpoint(path, log)
    why = ('no intact best_*.pth: ' + '; '.join(corrupt)) if corrupt \
        else 'no best_*.pth'
    if corrupt and log is not None:
        log(f'falling back to the newest checkpoint {newest} because '
            + '; '.join(corrupt))
    return newest, f'newest checkpoint {osp.basename(newest)} ({why})'
