"""Test a checkpoint: ``python tools/test.py CONFIG CKPT [options]``.

Prints the metric table (one row per dataset) and the zero-flow baseline
EPE3D of every dataset; ``--out`` saves both as JSON.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bpfn.apis.testing import (NonFiniteResultError,  # noqa: E402
                               test_checkpoint)
from bpfn.engine.launch import finish_distributed, setup_launcher  # noqa
from bpfn.utils.checkpoint import CheckpointError  # noqa: E402
from bpfn.utils.tool_utils import (ConfigError, add_common_args,  # noqa
                                   add_console_hooks, add_custom_hook,
                                   config_name, load_config, setup_threads)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Test a bpfn model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or a work dir: its best checkpoint '
        '(best_*.pth of save_best) when it has an intact one, else its '
        'newest complete checkpoint')
    parser.add_argument(
        '--out', help='write the metrics to this JSON file')
    parser.add_argument(
        '--experiment',
        help='experiment name stored in the --out file; defaults to the '
        'config name')
    parser.add_argument(
        '--show-dir', help='save flow visualisations in this folder')
    parser.add_argument(
        '--allow-nonfinite',
        action='store_true',
        help='keep going when predictions or metrics are NaN/inf: they (and '
        'all metrics of a dataset with NaN/inf predictions) are written as '
        'null; by default the tool stops with an error and writes nothing')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Test the checkpoint and print the metrics.

    Exits with status 1 and a message on a bad config or checkpoint, and on
    non-finite predictions or metrics (unless ``--allow-nonfinite``).
    """
    args = parse_args(argv)
    try:
        threads = '{} ({})'.format(*setup_threads(args.threads))
        cfg = load_config(args)
        setup_launcher(cfg)
    except (ConfigError, ValueError) as exc:
        sys.exit(f'error: {exc}')
    add_console_hooks(cfg, threads, train=False)
    if args.show_dir:
        add_custom_hook(
            cfg, dict(type='FlowVisualizationHook', out_dir=args.show_dir))
    try:
        test_checkpoint(cfg, args.checkpoint, args.config, out=args.out,
                        experiment=args.experiment
                        or config_name(args.config),
                        allow_nonfinite=args.allow_nonfinite)
    except (CheckpointError, FileNotFoundError, NonFiniteResultError) as exc:
        sys.exit(f'error: {exc}')
    finish_distributed()


if __name__ == '__main__':
    main()
