"""Publish a checkpoint: weights only, with its SHA-256 in the file name.

    python tools/model_converters/publish_model.py IN OUT [--safetensors]

``IN`` is any checkpoint bpfn loads (a training checkpoint, a distiller's,
an original BPF file). The published file holds ``state_dict`` and a small
``meta`` (epoch, iteration, the source file's name): no optimizer, no
message hub, no scheduler. A distiller checkpoint gives its student's
weights under the student's own keys (it loads with the student's config).
As in OpenMMLab's model zoos, the first 8 hex digits of the SHA-256 of the
written file are appended to its name: ``OUT`` = ``bpfn_ft3d.pth`` gives
``bpfn_ft3d-<hash8>.pth``. ``--safetensors`` also writes the weights as
``bpfn_ft3d-<hash8'>.safetensors`` (its own hash), which loads without any
unpickling. ``bpfn.apis.init_model`` and the tools load both forms. Every
file is written atomically.
"""
import argparse
import hashlib
import io
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch

from bpfn.utils import (CheckpointError, extract_state_dict,
                        load_checkpoint_file)
from bpfn.utils.checkpoint import SAFETENSORS_SUFFIX
from bpfn.utils.fileio import atomic_open, sha256_file

#: Entries of the source checkpoint's ``meta`` that are kept.
KEPT_META = ('epoch', 'iter', 'seed', 'experiment_name', 'mmengine_version',
             'dataset_meta')
HASH_DIGITS = 8


def hashed_name(out: str, data: bytes, suffix: str) -> str:
    """``OUT`` without its ending, then ``-<hash8>`` and ``suffix``."""
    stem = out
    for ending in ('.pth', SAFETENSORS_SUFFIX):
        if stem.endswith(ending):
            stem = stem[:-len(ending)]
    return f'{stem}-{hashlib.sha256(data).hexdigest()[:HASH_DIGITS]}{suffix}'


def _write(path: str, data: bytes) -> str:
    with atomic_open(path, 'wb') as f:
        f.write(data)
    if sha256_file(path)[:HASH_DIGITS] != osp.basename(path).rsplit(
            '-', 1)[-1][:HASH_DIGITS]:
        raise OSError(f'{path}: the written file does not match its hash')
    return path


def publish_model(src: str,
                  out: str,
                  safetensors: bool = False,
                  config: Optional[str] = None,
                  allow_unsafe: bool = False) -> List[str]:
    """Write the weights of ``src`` as published files.

    Args:
        src (str): Source checkpoint.
        out (str): Output name, ``.pth`` or without an ending; the hash is
            inserted before the ending.
        safetensors (bool): Also write a ``.safetensors`` file.
            Defaults to False.
        config (str, optional): Check first that the weights load into this
            config's model (a distillation config: its student).
        allow_unsafe (bool): Full unpickling of a trusted source.
            Defaults to False.

    Returns:
        list[str]: The written paths, ``.pth`` first.
    """
    ckpt = load_checkpoint_file(src, 'cpu', allow_unsafe)
    state = OrderedDict(
        (k, v.detach().clone().contiguous())
        for k, v in extract_state_dict(ckpt, src).items())
    if config is not None:
        from bpfn.apis import init_model
        from bpfn.utils import check_state_dict
        check_state_dict(init_model(config), state, src)
    meta: Dict = ckpt.get('meta') if isinstance(ckpt, dict) else None
    meta = {k: meta[k] for k in KEPT_META
            if isinstance(meta, dict) and k in meta}
    meta['published_from'] = osp.basename(src)
    buffer = io.BytesIO()
    torch.save(dict(meta=meta, state_dict=state), buffer)
    data = buffer.getvalue()
    paths = [_write(hashed_name(out, data, '.pth'), data)]
    if safetensors:
        try:
            from safetensors.torch import save
        except ImportError as exc:
            raise ImportError('--safetensors needs the optional package '
                              'safetensors (pip install safetensors)') from exc
        data = save(dict(state), metadata=dict(
            format='pt', published_from=osp.basename(src)))
        paths.append(_write(hashed_name(out, data, SAFETENSORS_SUFFIX), data))
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog=__doc__.split('\n\n', 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='checkpoint to publish')
    parser.add_argument('out', help='output name (OUT.pth -> '
                        'OUT-<hash8>.pth)')
    parser.add_argument('--safetensors', action='store_true',
                        help='also write OUT-<hash8>.safetensors')
    parser.add_argument('--config', help='check that the weights load into '
                        'this config\'s model first')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='full unpickling of a trusted checkpoint')
    args = parser.parse_args(argv)
    try:
        paths = publish_model(args.src, args.out, args.safetensors,
                              args.config, args.unsafe_load)
    except (CheckpointError, FileNotFoundError, ImportError) as exc:
        print(f'publish_model: {exc}', file=sys.stderr)
        return 1
    for path in paths:
        print(f'wrote {path} (sha256 {sha256_file(path)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
