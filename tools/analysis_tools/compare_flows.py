"""Draw the flows of two models on the same scenes, side by side.

Usage::

    python tools/analysis_tools/compare_flows.py \
        configs/demo/bpfn_synthetic.py work_dirs/bpfn_synthetic \
        configs/demo/bpfn_synthetic.py work_dirs/wn4_scratch \
        --cfg-options-b model.weightnet=4 --labels teacher "WN4 student" \
        --num 4 --out-dir work_dirs/compare

Both models (a distiller config gives its student; a checkpoint may be a
work dir) run on the first ``--num`` scenes of config A's test dataset, with
config A's test pipeline, so they see exactly the same points. Each scene
gives ``<out-dir>/<scene>.png``: a row of the ground truth, then one row per
model (bird's-eye view coloured by flow direction with arrows, camera view
of pc2 and pc1 + flow, end-point error), all rows with the same views, point
size, arrow scale and colour scales (errors from 0 to ``--max-error``
metres), and each model's EPE3D of the scene in its titles. A table of the
per-scene EPE3D of both models is printed.
"""
import argparse
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


class CompareError(ValueError):
    """Arguments that cannot be compared (named in the message)."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from bpfn.utils.tool_utils import add_threads_arg
    parser = argparse.ArgumentParser(
        description='Draw two models\' flows on the same test scenes')
    parser.add_argument('config_a', help='config of model A (e.g. teacher)')
    parser.add_argument('checkpoint_a', help='checkpoint or work dir of A')
    parser.add_argument('config_b', help='config of model B (e.g. student)')
    parser.add_argument('checkpoint_b', help='checkpoint or work dir of B')
    parser.add_argument(
        '--num', type=int, default=4,
        help='number of test scenes, from the first (default: 4)')
    parser.add_argument(
        '--indices', type=int, nargs='+',
        help='test dataset indices to draw (instead of the first --num)')
    parser.add_argument(
        '--out-dir', default='compare_flows', help='folder of the PNGs')
    parser.add_argument(
        '--max-error', type=float, default=0.3,
        help='top of the end-point error colour scale in metres (default: '
        '0.3, the Outliers3D threshold)')
    parser.add_argument(
        '--labels', nargs=2, metavar=('A', 'B'),
        help='names of the two models (default: their config names)')
    parser.add_argument(
        '--max-points', type=int, default=4096,
        help='points drawn per cloud')
    parser.add_argument(
        '--device', default=None,
        help='device of the models (default: cuda:0 when present, else cpu)')
    parser.add_argument(
        '--cfg-options-a', nargs='+', action=DictAction, default=None,
        help='overrides of config A, key=value (also the test dataset)')
    parser.add_argument(
        '--cfg-options-b', nargs='+', action=DictAction, default=None,
        help='overrides of config B, key=value')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='allow full unpickling of checkpoints you trust')
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f'--num must be >= 1, got {args.num}')
    if not args.max_error > 0:
        parser.error(f'--max-error must be > 0 (metres), got '
                     f'{args.max_error}')
    return args


def _load_config(path: str, options: Optional[dict]) -> Config:
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def _labels(args: argparse.Namespace) -> List[str]:
    if args.labels:
        labels = list(args.labels)
    else:
        labels = [osp.splitext(osp.basename(c))[0]
                  for c in (args.config_a, args.config_b)]
        if labels[0] == labels[1]:
            labels = [f'{labels[0]} (A)', f'{labels[1]} (B)']
    if labels[0] == labels[1]:
        raise CompareError(f'--labels must differ, got {labels[0]!r} twice')
    return labels


def epe3d_table(names: Sequence[str], labels: Sequence[str],
                epe: Dict[str, List[float]]) -> str:
    """Markdown table of the per-scene EPE3D and the mean of each model.

    Args:
        names (Sequence[str]): Scene names, in row order.
        labels (Sequence[str]): Model names (columns).
        epe (dict[str, list[float]]): Model name to its EPE3D per scene.

    Returns:
        str: ``| Scene | <A> EPE3D | <B> EPE3D |`` and its rows.
    """
    lines = ['| Scene | ' + ' | '.join(f'{lb} EPE3D' for lb in labels) +
             ' |', '|---|' + '---|' * len(labels)]
    for i, name in enumerate(names):
        lines.append(f'| {name} | ' +
                     ' | '.join(f'{epe[lb][i]:.4f}' for lb in labels) + ' |')
    means = [sum(epe[lb]) / len(epe[lb]) for lb in labels]
    lines.append(f'| mean ({len(names)} scenes) | ' +
                 ' | '.join(f'{m:.4f}' for m in means) + ' |')
    return '\n'.join(lines)


def compare(args: argparse.Namespace) -> Dict[str, List[float]]:
    """Run both models on the scenes, write the pictures, print the table.

    Args:
        args (argparse.Namespace): From :func:`parse_args`.

    Returns:
        dict[str, list[float]]: Model label to its EPE3D per scene, and
        ``'scenes'`` to the scene names.
    """
    import matplotlib.pyplot as plt
    import torch
    from mmengine.registry import init_default_scope

    from bpfn.apis import init_model
    from bpfn.datasets import flow_collate
    from bpfn.evaluation.functional.scene_flow_metrics import \
        scene_flow_metrics_3d
    from bpfn.registry import DATASETS
    from bpfn.utils import save_best_keys, select_checkpoint
    from bpfn.visualization import draw_flow_comparison, save_figure

    def warn(msg: str) -> None:
        print(f'warning: {msg}', file=sys.stderr)

    labels = _labels(args)
    device = args.device or ('cuda:0' if torch.cuda.is_available() else
                             'cpu')
    cfg_a = _load_config(args.config_a, args.cfg_options_a)
    cfg_b = _load_config(args.config_b, args.cfg_options_b)
    models = []
    for label, cfg, ckpt in ((labels[0], cfg_a, args.checkpoint_a),
                             (labels[1], cfg_b, args.checkpoint_b)):
        path, why = select_checkpoint(ckpt, warn, save_best_keys(cfg))
        print(f'{label}: {cfg.filename} with {path} ({why})')
        models.append(
            init_model(cfg, path, device, allow_unsafe=args.unsafe_load))

    init_default_scope(cfg_a.get('default_scope', 'bpfn'))
    if 'test_dataloader' not in cfg_a:
        raise CompareError(f'config {args.config_a} has no test_dataloader')
    dataset = DATASETS.build(cfg_a.test_dataloader.dataset)
    indices = args.indices if args.indices else list(
        range(min(args.num, len(dataset))))
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise CompareError(f'--indices {bad} outside the test dataset of '
                         f'{args.config_a} ({len(dataset)} scenes)')

    epe: Dict[str, List[float]] = {label: [] for label in labels}
    names = []
    for index in indices:
        batch = flow_collate([dataset[index]])
        sample = batch['data_samples'][0]
        name = str(sample.get('sample_name', f'{index:06d}'))
        names.append(name)
        preds = []
        for label, model in zip(labels, models):
            with torch.no_grad():
                out = model.test_step(batch)[0]
            pred = out['pred_flow'].float().cpu()
            epe[label].append(
                scene_flow_metrics_3d(pred, sample['gt_flow'])['EPE3D'])
            preds.append((label, pred))
        fig = draw_flow_comparison(
            batch['inputs']['pc1'][0], batch['inputs']['pc2'][0], preds,
            sample['gt_flow'], title=name, max_points=args.max_points,
            max_error=args.max_error)
        stem = _UNSAFE.sub('_', name).strip('_') or f'{index:06d}'
        try:
            save_figure(fig, osp.join(args.out_dir, f'{stem}.png'))
        finally:
            plt.close(fig)

    print(epe3d_table(names, labels, epe))
    print(f'{len(names)} picture(s) written to {args.out_dir}')
    return dict(epe, scenes=names)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    from bpfn.utils import CheckpointError
    from bpfn.utils.tool_utils import setup_threads
    try:
        print('threads: {} ({})'.format(*setup_threads(args.threads)))
        compare(args)
    except (CompareError, CheckpointError, FileNotFoundError,
            ValueError) as exc:
        raise SystemExit(f'error: {exc}') from exc


if __name__ == '__main__':
    main()
