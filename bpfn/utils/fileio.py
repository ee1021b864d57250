"""Crash-safe file writes: a temp file in the same folder, then a rename."""
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

import torch


def _current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str, mode: str = 'w') -> Iterator[Any]:
    """Open a temp file next to ``path``; it replaces ``path`` on success.

    The temp file is flushed and fsynced before :func:`os.replace`, so a
    crash leaves either the old file or the complete new one, never a
    truncated file under ``path``. The final file gets the permissions of
    a file made by :func:`open` (``0o666`` less the umask, e.g. ``0o644``),
    not the ``0o600`` of :func:`tempfile.mkstemp`.

    Args:
        path (str): Final file path.
        mode (str): ``'w'`` (text) or ``'wb'`` (binary). Defaults to ``'w'``.

    Yields:
        The open temp file.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(
            f'atomic_open: mode must be "w" or "wb", got {mode!r}')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.chmod(tmp, 0o666 & ~_current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(obj: Any, path: str, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically.

    Args:
        obj (Any): A JSON-serialisable object.
        path (str): Output path.
        indent (int): JSON indentation. Defaults to 2.
    """
    with atomic_open(path, 'w') as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write('\n')


def atomic_torch_save(obj: Any, path: str) -> None:
    """:func:`torch.save` to ``path`` atomically.

    Args:
        obj (Any): The object to save.
        path (str): Output path.
    """
    with atomic_open(path, 'wb') as f:
        torch.save(obj, f)


def fsync_and_replace(tmp_path: str, path: str) -> None:
    """Fsync a finished temp file and rename it to ``path``.

    Args:
        tmp_path (str): A complete file in the folder of ``path``.
        path (str): Final path.
    """
    with open(tmp_path, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp_path, path)
