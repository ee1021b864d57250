"""Train a scene flow model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bpfn.utils.checkpoint import CheckpointError  # noqa: E402
from bpfn.utils.tool_utils import (add_common_args, build_runner,  # noqa
                                   finish_distributed, load_config,
                                   resolve_resume, use_amp)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Train a bpfn model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        metavar='CKPT',
        help='resume training: from CKPT (a file or work dir) or, without '
        'a value, from the newest complete checkpoint of the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic algorithms (slower)')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Build the runner from the config and train."""
    args = parse_args(argv)
    cfg = load_config(args)
    if args.amp:
        use_amp(cfg)
    randomness = dict(cfg.get('randomness', None) or {})
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.deterministic:
        randomness['deterministic'] = True
    cfg.randomness = randomness
    try:
        resolve_resume(cfg, args.resume)
    except (CheckpointError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')
    runner = build_runner(cfg)
    runner.train()
    finish_distributed()


if __name__ == '__main__':
    main()
