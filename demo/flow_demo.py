"""Scene flow between two point clouds of your own.

Usage::

    python demo/flow_demo.py PC1 PC2 CONFIG CHECKPOINT \
        [--out-file flow.npy] [--show] [--num-points 8192] [--device cpu]

``PC1`` and ``PC2`` may be:

* ``.npy``: a float array (N, 3) or (N, C >= 3); the first three columns are
  x, y, z;
* ``.ply``: ASCII or binary (little- or big-endian) with a ``vertex``
  element holding ``x``, ``y``, ``z`` (needs ``plyfile``);
* ``.pcd``: ASCII or binary (not ``binary_compressed``) with fields
  ``x y z``;
* ``.bin``: KITTI Velodyne scans, float32 x, y, z, intensity.

The readers are those of :mod:`bpfn.datasets.readers` (which says which
library reads what); a malformed file gives a one-line error naming the file
and the bad header field.

The clouds go through the config's test pipeline without its file loading
(its filters, and its deterministic sampling to ``--num-points`` points:
the same points every run) and ``model.test_step``; the flow of every point
of PC1 is written: sampled points keep their prediction, the others get the
inverse-distance 3-NN interpolation of the predictions, in chunks so that
memory stays bounded for large clouds
(:func:`bpfn.apis.inference_scene`). The output is an (N1, 3) float32
``.npy`` aligned with the rows of PC1. ``--show`` also writes a picture
(``<out-file>.png``). Pass ``none`` as CHECKPOINT to run
randomly initialised weights (for testing).
"""
import argparse
import os.path as osp
import resource
import sys
import time
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from bpfn.apis import inference_scene, init_model
from bpfn.datasets.readers import PointCloudFormatError, load_points
from bpfn.utils import save_best_keys, select_checkpoint
from bpfn.utils.checkpoint import CheckpointError
from bpfn.utils.fileio import atomic_open
from bpfn.utils.tool_utils import add_threads_arg, setup_threads


def run_demo(pc1_path: str,
             pc2_path: str,
             config: str,
             checkpoint: Optional[str],
             num_points: Optional[int] = None,
             device: str = 'cpu',
             cfg_options: Optional[dict] = None) -> Dict[str, np.ndarray]:
    """Read two clouds and predict the flow of every point of the first.

    Args:
        pc1_path (str): First cloud file.
        pc2_path (str): Second cloud file.
        config (str): Model config file.
        checkpoint (str, optional): Checkpoint file or work dir (its best
            checkpoint, else its newest:
            :func:`bpfn.utils.select_checkpoint`); None or ``'none'``
            keeps random weights.
        num_points (int, optional): Points sampled per cloud. Defaults to
            the config's test sampling, else 8192.
        device (str): Defaults to 'cpu'.
        cfg_options (dict, optional): Config overrides.

    Returns:
        dict: ``pc1`` (N1, 3), ``pc2`` (N2, 3), ``flow`` (N1, 3) float32 and
        ``sampled_idx1`` (S,).
    """
    pc1 = load_points(pc1_path)
    pc2 = load_points(pc2_path)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'bpfn'))
    if checkpoint is not None and checkpoint.lower() == 'none':
        checkpoint = None
    if checkpoint is not None:
        checkpoint, why = select_checkpoint(
            checkpoint, lambda msg: print(f'warning: {msg}', file=sys.stderr),
            save_best_keys(cfg))
        print(f'checkpoint: {checkpoint} ({why})')
    model = init_model(cfg, checkpoint, device)
    out = inference_scene(model, pc1, pc2, num_points,
                          osp.basename(pc1_path))
    return dict(pc1=pc1, pc2=pc2,
                flow=out['flow'].cpu().numpy().astype(np.float32),
                sampled_idx1=out['rows'].cpu().numpy())


def peak_memory_mib() -> float:
    """Peak resident memory of this process in MiB (Linux ``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == 'darwin' else peak / 1024


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Scene flow between two point cloud files')
    parser.add_argument('pc1', help='first cloud (.npy, .ply, .pcd, .bin)')
    parser.add_argument('pc2', help='second cloud')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or a work dir (its best checkpoint, else its '
        'newest); "none": random weights')
    parser.add_argument(
        '--out-file', default='flow.npy',
        help='(N1, 3) float32 flow of every point of pc1')
    parser.add_argument(
        '--show', action='store_true',
        help='also write a picture next to --out-file (<name>.png)')
    parser.add_argument(
        '--num-points', type=int, default=None,
        help='points sampled per cloud (default: the config test sampling, '
        'else 8192)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='config overrides, key=value')
    add_threads_arg(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        threads, why = setup_threads(args.threads)
    except ValueError as exc:
        raise SystemExit(f'error: {exc}') from exc
    print(f'threads: {threads} ({why})')
    start = time.perf_counter()
    try:
        result = run_demo(args.pc1, args.pc2, args.config, args.checkpoint,
                          args.num_points, args.device, args.cfg_options)
    except (PointCloudFormatError, FileNotFoundError, CheckpointError) as exc:
        raise SystemExit(f'error: {exc}') from exc
    with atomic_open(args.out_file, 'wb') as f:
        np.save(f, result['flow'])
    message = (f'Flow of {len(result["pc1"])} points written to '
               f'{args.out_file}')
    if args.show:
        from bpfn.visualization import save_flow_png
        png = osp.splitext(args.out_file)[0] + '.png'
        save_flow_png(png, result['pc1'], result['pc2'], result['flow'],
                      title=osp.basename(args.pc1))
        message += f'; picture written to {png}'
    print(message)
    print(f'time {time.perf_counter() - start:.1f} s, peak memory '
          f'{peak_memory_mib():.0f} MiB')


if __name__ == '__main__':
    main()
