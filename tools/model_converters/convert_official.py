"""Convert an original Bi-PointFlowNet checkpoint into a bpfn checkpoint.

The original saves ``model.state_dict()`` (sometimes under ``state_dict``,
sometimes with DataParallel's ``module.`` prefix). The key names are the
same in bpfn, so conversion checks the weights against the model of a
config and stores them the way bpfn and MMEngine save checkpoints::

    python tools/model_converters/convert_official.py \
        BPF_ORIGINAL.pth checkpoints/bpfn_ft3d.pth \
        [--config configs/bpfn/bpfn_ft3d.py]
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config

from bpfn.apis import init_model
from bpfn.utils import (CheckpointError, extract_state_dict,
                        load_checkpoint_file)
from bpfn.utils.fileio import atomic_torch_save

DEFAULT_CONFIG = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', 'bpfn', 'bpfn_ft3d.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an original BPF checkpoint to bpfn')
    parser.add_argument('src', help='original checkpoint file')
    parser.add_argument('dst', help='bpfn checkpoint to write')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='config of the matching bpfn model '
                        '(default: the teacher, configs/bpfn/bpfn_ft3d.py)')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow full unpickling of a trusted file')
    return parser.parse_args()


def convert(src: str, dst: str, config: str,
            allow_unsafe: bool = False) -> int:
    """Check ``src`` against the model of ``config`` and write ``dst``.

    ``src`` is checked as every checkpoint bpfn reads (archive CRCs, safe
    unpickling, every key, shape and dtype), so a corrupt or altered file
    is refused, naming it.

    Returns:
        int: Number of tensors written.
    """
    cfg = Config.fromfile(config)
    # Loading through init_model checks every key and shape and lists any
    # mismatch.
    init_model(cfg, src, allow_unsafe=allow_unsafe)
    state = extract_state_dict(
        load_checkpoint_file(src, allow_unsafe=allow_unsafe), src)
    atomic_torch_save(
        dict(state_dict=state,
             meta=dict(source=osp.basename(src),
                       config=osp.basename(config),
                       converted_by='bpfn convert_official')), dst)
    return len(state)


def main() -> None:
    args = parse_args()
    try:
        count = convert(args.src, args.dst, args.config, args.unsafe_load)
    except (CheckpointError, FileNotFoundError) as exc:
        sys.exit(f'convert_official: {exc}')
    print(f'wrote {count} tensors to {args.dst}')


if __name__ == '__main__':
    sys.exit(main())
