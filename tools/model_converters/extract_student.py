"""Strip a distiller checkpoint down to its student.

    python tools/model_converters/extract_student.py IN OUT

``OUT`` holds ``state_dict`` (the student's own keys, no ``student.``
prefix, no adapters, no teacher) and ``meta``; it loads with the student's
config (``init_model``, ``tools/test.py``). The file is written atomically.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

import torch

from bpfn.utils import (CheckpointError, checkpoint_state, extract_state_dict,
                        is_distiller_state, load_checkpoint_file)
from bpfn.utils.fileio import atomic_path


def extract_student(src: str, dst: str, allow_unsafe: bool = False) -> int:
    """Write the student of distiller checkpoint ``src`` to ``dst``.

    Args:
        src (str): Distiller checkpoint (``student.*`` keys).
        dst (str): Output path.
        allow_unsafe (bool): Full unpickling of a trusted file.
            Defaults to False.

    Returns:
        int: Number of tensors written.
    """
    ckpt = load_checkpoint_file(src, 'cpu', allow_unsafe)
    if not is_distiller_state(checkpoint_state(ckpt, src)):
        raise CheckpointError(f'{src} is not a distiller checkpoint: no '
                              "'student.' keys in its state_dict")
    student = extract_state_dict(ckpt, src)
    meta = ckpt.get('meta')
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta['extracted_from'] = os.path.basename(src)
    with atomic_path(dst) as tmp:
        torch.save(dict(meta=meta, state_dict=student), tmp)
    return len(student)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='distiller checkpoint')
    parser.add_argument('dst', help='output student checkpoint')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='full unpickling of a trusted checkpoint')
    args = parser.parse_args(argv)
    try:
        count = extract_student(args.src, args.dst, args.unsafe_load)
    except (CheckpointError, FileNotFoundError) as exc:
        sys.exit(f'extract_student: {exc}')
    print(f'wrote {count} student tensors to {args.dst}')


if __name__ == '__main__':
    main()
