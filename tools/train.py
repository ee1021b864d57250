"""Train a scene flow model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bpfn.engine.hooks.graceful_stop_hook import \
    TrainingInterrupted  # noqa: E402
from bpfn.engine.launch import (build_runner, finish_distributed,  # noqa
                                resolve_resume, setup_launcher,
                                train_work_dir_lock, use_amp)
from bpfn.utils.checkpoint import CheckpointError  # noqa: E402
from bpfn.utils.tool_utils import (ConfigError, add_common_args,  # noqa
                                   add_console_hooks, load_config,
                                   setup_threads, use_tensorboard)
from bpfn.utils.work_dir_lock import WorkDirLockedError  # noqa: E402


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
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        help='also log to TensorBoard (<work dir>/<timestamp>/vis_data; '
        'needs the tensorboard package); scalars.json is still written')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic algorithms (slower)')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Build the runner from the config and train.

    Exits with a message: 1 on a bad config, checkpoint or a work dir in
    use by another run; ``128 + signum`` when SIGTERM / SIGINT stopped
    training (143 / 130).
    """
    args = parse_args(argv)
    try:
        threads = '{} ({})'.format(*setup_threads(args.threads))
        cfg = load_config(args)
        setup_launcher(cfg)
        if args.tensorboard:
            use_tensorboard(cfg)
    except (ConfigError, ValueError) as exc:
        sys.exit(f'error: {exc}')
    add_console_hooks(cfg, threads, train=True)
    if args.amp:
        use_amp(cfg)
    randomness = dict(cfg.get('randomness', None) or {})
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.deterministic:
        randomness['deterministic'] = True
    cfg.randomness = randomness
    try:
        with train_work_dir_lock(cfg):
            try:
                resolve_resume(cfg, args.resume)
            except FileNotFoundError as exc:
                sys.exit(f'error: {exc}')
            runner = build_runner(cfg)
            runner.train()
    except (CheckpointError, WorkDirLockedError) as exc:
        sys.exit(f'error: {exc}')
    except TrainingInterrupted as exc:
        print(f'stopped: {exc}', file=sys.stderr, flush=True)
        finish_distributed()
        sys.exit(exc.exit_code)
    finish_distributed()


if __name__ == '__main__':
    main()
