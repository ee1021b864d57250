"""Draw training samples after augmentation, with their ground truth flow.

Usage::

    python tools/misc/browse_dataset.py configs/demo/bpfn_synthetic.py \
        --output-dir browse --num 5 [--split train]

Each sample is drawn as the test pictures are (pc1 coloured by flow
direction with arrows, the camera view of pc2 and pc1 + flow, and pc1
coloured by flow length), with the ground truth flow in place of a
prediction, to
``<output-dir>/<sample_name>.png`` (prefixed with the split when the
name does not start with it).
"""
import argparse
import os.path as osp
import re
from typing import List, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw dataset samples after the pipeline')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--output-dir', default='browse_dataset', help='folder of the PNGs')
    parser.add_argument(
        '--num', type=int, default=5, help='number of samples to draw')
    parser.add_argument(
        '--split', default='train', choices=['train', 'val', 'test'],
        help='which dataloader of the config to browse')
    parser.add_argument(
        '--max-points', type=int, default=4096,
        help='points drawn per cloud')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='config overrides, key=value')
    return parser.parse_args(argv)


def browse(cfg: Config, output_dir: str, num: int = 5, split: str = 'train',
           max_points: Optional[int] = 4096) -> List[str]:
    """Build the dataset of ``<split>_dataloader`` and draw ``num`` samples.

    Args:
        cfg (Config): The config.
        output_dir (str): Folder of the PNGs.
        num (int): Samples to draw. Defaults to 5.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        max_points (int, optional): Points drawn per cloud.

    Returns:
        list[str]: Written files.
    """
    from bpfn.registry import DATASETS
    from bpfn.visualization import save_flow_png

    init_default_scope(cfg.get('default_scope', 'bpfn'))
    key = f'{split}_dataloader'
    if key not in cfg:
        raise KeyError(f'config {cfg.filename} has no {key}')
    dataset = DATASETS.build(cfg[key]['dataset'])
    written = []
    for i in range(min(num, len(dataset))):
        sample = dataset[i]
        inputs, meta = sample['inputs'], sample['data_samples']
        name = str(meta.get('sample_name', f'{i:06d}'))
        stem = _UNSAFE.sub('_', name).strip('_') or f'{i:06d}'
        if not stem.startswith(split):
            stem = f'{split}_{stem}'
        path = osp.join(output_dir, f'{stem}.png')
        save_flow_png(path, inputs['pc1'], inputs['pc2'], meta['gt_flow'],
                      title=f'{split} {name} (ground truth)',
                      max_points=max_points)
        written.append(path)
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    files = browse(cfg, args.output_dir, args.num, args.split,
                   args.max_points)
    print(f'{len(files)} picture(s) written to {args.output_dir}')


if __name__ == '__main__':
    main()
