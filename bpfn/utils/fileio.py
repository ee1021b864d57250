"""Crash-safe file writes: a temp file in the same folder, then a rename.

This module is bpfn's one atomic writer (:func:`atomic_path`; the others
build on it): every file bpfn writes whole (checkpoints, the
``last_checkpoint`` pointer, results, converted data, pictures) goes
through a temp file named ``.<name>.<tag>.tmp`` next to its destination,
which is fsynced, renamed into place, and the folder is fsynced so the
rename itself survives a power loss.
"""
import hashlib
import json
import os
import os.path as osp
import re
import tempfile
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional

import torch

#: Names of the temp files of this module: ``.<final name>.<tag>.tmp``.
TEMP_NAME = re.compile(r'^\.(?P<name>.+)\.(?P<tag>[A-Za-z0-9_]+)\.tmp$')


def _current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: str) -> None:
    """Fsync a folder, so renames and removals in it are durable.

    Does nothing where folders cannot be opened (e.g. Windows).

    Args:
        folder (str): The folder.
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temp file path next to ``path``; it replaces ``path`` on success.

    bpfn's one atomic writer: the others of this module build on it. The
    block writes the temp file (``<folder>/.<name>.<random>.tmp``, made
    empty by :func:`tempfile.mkstemp`) by path; it may also replace it,
    e.g. by a hard link. When the block succeeds the file gets the
    permissions of a file made by :func:`open` (``0o666`` less the umask,
    e.g. ``0o644``, not the ``0o600`` of ``mkstemp``; a hard link keeps its
    own), is fsynced, renamed onto ``path`` with :func:`os.replace`, and
    the folder is fsynced, so a crash leaves either the old file or the
    complete new one, never a truncated file under ``path``. On an error
    the temp file is removed and ``path`` is left as it was.

    Args:
        path (str): Final file path; its folder is created.

    Yields:
        str: The temp path to write to.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    os.close(fd)
    try:
        yield tmp
        if os.stat(tmp).st_nlink == 1:  # not a hard link to another file
            os.chmod(tmp, 0o666 & ~_current_umask())
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(folder)
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_open(path: str, mode: str = 'w') -> Iterator[Any]:
    """Open a temp file next to ``path``; it replaces ``path`` on success.

    :func:`atomic_path` for writers that take an open file.

    Args:
        path (str): Final file path.
        mode (str): ``'w'`` (text) or ``'wb'`` (binary). Defaults to ``'w'``.

    Yields:
        The open temp file.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(
            f'atomic_open: mode must be "w" or "wb", got {mode!r}')
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f


def atomic_write_json(obj: Any, path: str, indent: int = 2,
                      sort_keys: bool = False) -> None:
    """Write ``obj`` as strict JSON to ``path`` atomically.

    NaN and infinite floats are refused (``allow_nan=False``): they are not
    JSON and most readers reject them. Replace them by ``None`` first if
    they are meant to be written (as ``null``).

    Args:
        obj (Any): A JSON-serialisable object.
        path (str): Output path.
        indent (int): JSON indentation. Defaults to 2.
        sort_keys (bool): Sort the keys of every object. Defaults to False.

    Raises:
        ValueError: If ``obj`` holds NaN or infinite floats; ``path`` is
            left as it was.
    """
    # Serialise first: a refusal leaves no temp file behind.
    text = json.dumps(obj, indent=indent, ensure_ascii=False,
                      allow_nan=False, sort_keys=sort_keys)
    atomic_write_text(text + '\n', path)


def atomic_write_text(text: str, path: str) -> None:
    """Write ``text`` to ``path`` atomically.

    Args:
        text (str): The content.
        path (str): Output path.
    """
    with atomic_open(path, 'w') as f:
        f.write(text)


def atomic_torch_save(obj: Any, path: str) -> None:
    """:func:`torch.save` to ``path`` atomically.

    Args:
        obj (Any): The object to save.
        path (str): Output path.
    """
    with atomic_open(path, 'wb') as f:
        torch.save(obj, f)


def remove_temp_files(folder: str,
                      match: Callable[[str], bool],
                      log: Optional[Callable[[str], Any]] = None
                      ) -> List[str]:
    """Remove the temp files of this module left in ``folder`` by a crash.

    Only call it while no other process writes into ``folder`` (e.g. with
    the work dir lock held, see :class:`bpfn.utils.WorkDirLock`).

    Args:
        folder (str): The folder (not searched recursively).
        match (Callable[[str], bool]): Receives the final name of each temp
            file (``name`` in ``.<name>.<tag>.tmp``); only those it accepts
            are removed.
        log (Callable[[str], Any], optional): Receives one line naming the
            removed files. Defaults to None.

    Returns:
        list[str]: The removed file names.
    """
    if not osp.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        found = TEMP_NAME.match(name)
        path = osp.join(folder, name)
        if found and match(found.group('name')) and osp.isfile(path):
            try:
                os.remove(path)
            except FileNotFoundError:
                continue
            removed.append(name)
    if removed and log is not None:
        log(f'removed {len(removed)} orphaned temporary file(s) of an '
            f'earlier run in {folder}: {", ".join(removed)}')
    return removed


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
