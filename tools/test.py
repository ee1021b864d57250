"""Test a checkpoint: ``python tools/test.py CONFIG CKPT [options]``.

Prints the metric table (one row per dataset) and the zero-flow baseline
EPE3D of every dataset; ``--out`` saves both as JSON.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bpfn.utils.checkpoint import CheckpointError  # noqa: E402
from bpfn.utils.tool_utils import (add_common_args, add_custom_hook,  # noqa
                                   build_runner, config_name,
                                   finish_distributed, load_config,
                                   test_checkpoint)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Test a bpfn model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or a work dir (its newest complete '
        'checkpoint is used)')
    parser.add_argument(
        '--out', help='write the metrics to this JSON file')
    parser.add_argument(
        '--experiment',
        help='experiment name stored in the --out file; defaults to the '
        'config name')
    parser.add_argument(
        '--show-dir', help='save flow visualisations in this folder')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Test the checkpoint and print the metrics."""
    args = parse_args(argv)
    cfg = load_config(args)
    if args.show_dir:
        add_custom_hook(
            cfg, dict(type='FlowVisualizationHook', out_dir=args.show_dir))
    try:
        test_checkpoint(cfg, args.checkpoint, args.config, out=args.out,
                        experiment=args.experiment
                        or config_name(args.config))
    except (CheckpointError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')
    finish_distributed()


if __name__ == '__main__':
    main()
