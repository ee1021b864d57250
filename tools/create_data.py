"""Prepare the scene flow datasets.

Usage::

    python tools/create_data.py ft3d RAW OUT [--variant {35m,full}]
        [--workers 4]
    python tools/create_data.py kitti RAW OUT [--scenes 000002 ...]
    python tools/create_data.py ft3d-mini SRC OUT [--ratio 0.2] [--seed 0]

``ft3d`` converts the raw FlyingThings3D subset (disparity, disparity change
and optical flow with their occlusion masks) to
``OUT/{train,val}/<frame>/pc1.npy, pc2.npy``, equal to HPLFlowNet's processed
files: ``--variant 35m`` (the default) keeps the points nearer than 35 m in
both frames, as the commonly downloaded
``FlyingThings3D_subset_processed_35m``; ``--variant full`` keeps every
unoccluded pixel. ``kitti`` converts raw KITTI scene flow 2015
(``training/disp_occ_0``, ``disp_occ_1``, ``flow_occ``, ``calib_cam_to_cam``)
to ``OUT/<scene>/pc1.npy, pc2.npy``. Both end with a summary (frames
written, frames skipped and why, points per frame); frames that cannot be
converted are skipped, never written empty, and the run exits with status 1
when a split ends with no frame written. ``ft3d-mini`` hard-links a
deterministic fraction of a processed FT3D training set (plus its validation
split) to OUT and writes ``OUT/manifest.json``. Every file is written
through a temporary file and renamed, so an interrupted run leaves no
partial file.
"""
import argparse
import sys
from typing import List, Optional

from bpfn.datasets.converters import (FT3D_VARIANTS, ConversionSummary,
                                      convert_flyingthings3d, convert_kitti,
                                      create_minimized_ft3d)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Prepare scene flow datasets for bpfn')
    sub = parser.add_subparsers(dest='command', required=True)

    ft3d = sub.add_parser('ft3d', help='convert the raw FT3D subset')
    ft3d.add_argument('raw', help='raw FT3D subset folder (train/, val/)')
    ft3d.add_argument('out', help='output folder')
    ft3d.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'val'],
        choices=['train', 'val'],
        help='splits to convert')
    ft3d.add_argument(
        '--variant',
        default='35m',
        choices=sorted(FT3D_VARIANTS),
        help='35m: points nearer than 35 m in both frames, as '
        'FlyingThings3D_subset_processed_35m (HPLFlowNet '
        '--only_save_near_pts); full: every unoccluded pixel')
    ft3d.add_argument(
        '--workers', type=int, default=0, help='worker processes')

    kitti = sub.add_parser('kitti', help='convert raw KITTI scene flow 2015')
    kitti.add_argument('raw', help='folder holding training/')
    kitti.add_argument('out', help='output folder')
    kitti.add_argument(
        '--scenes',
        nargs='+',
        default=None,
        help='scenes to convert (default: all)')

    mini = sub.add_parser(
        'ft3d-mini', help='write a minimized copy of processed FT3D')
    mini.add_argument('src', help='processed FT3D folder (train/, val/)')
    mini.add_argument('out', help='output folder')
    mini.add_argument(
        '--ratio',
        type=float,
        default=0.2,
        help='fraction of the training samples')
    mini.add_argument('--seed', type=int, default=0, help='selection seed')
    mini.add_argument(
        '--copy',
        action='store_true',
        help='copy the files instead of hard-linking them')
    mini.add_argument(
        '--no-val',
        action='store_true',
        help='do not provide the validation split')
    return parser.parse_args(argv)


def report(summary: ConversionSummary) -> int:
    """Print a converter's summary; 1 when a split has no frame written."""
    print(summary)
    if summary.empty_splits:
        print(f'error: no frame written for {", ".join(summary.empty_splits)}'
              '; see the skipped frames above', file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.command == 'ft3d':
        return report(
            convert_flyingthings3d(
                args.raw,
                args.out,
                splits=args.splits,
                variant=args.variant,
                workers=args.workers))
    if args.command == 'kitti':
        return report(convert_kitti(args.raw, args.out, scenes=args.scenes))
    manifest = create_minimized_ft3d(
        args.src,
        args.out,
        ratio=args.ratio,
        seed=args.seed,
        link=not args.copy,
        with_val=not args.no_val)
    print(f'{len(manifest["samples"])} of '
          f'{manifest["num_source_samples"]} training samples and '
          f'{manifest["val_samples"]} validation samples written to '
          f'{args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
