"""Print a config with its ``_base_`` files and ``--cfg-options`` merged.

Usage::

    python tools/misc/print_config.py configs/kd/hint_wn4.py \
        [--cfg-options model.student.weightnet=8 ...] [--save-path out.py]

The printed text is the config as ``tools/train.py`` and ``tools/test.py``
build it (every inherited key resolved, ``{{_base_.x}}`` references
substituted, the overrides applied); ``--save-path`` also writes it, as a
``.py``, ``.json`` or ``.yaml`` file.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

_FORMATS = {'.py': 'py', '.json': 'json', '.yaml': 'yaml', '.yml': 'yaml'}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print the fully merged config')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value (as tools/train.py)')
    parser.add_argument(
        '--save-path',
        help='also write the merged config here (.py, .json or .yaml)')
    return parser.parse_args(argv)


def merged_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config of ``path`` with its bases and ``cfg_options`` merged.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): Overrides, ``{'a.b': value}``.

    Returns:
        Config: The merged config.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def config_text(cfg: Config, file_format: str = 'py') -> str:
    """The config as Python source, JSON or YAML text."""
    if file_format == 'py':
        return cfg.pretty_text
    from mmengine.fileio import dump
    return dump(cfg.to_dict(), file_format=file_format)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    save_format = None
    if args.save_path:
        ext = osp.splitext(args.save_path)[1].lower()
        if ext not in _FORMATS:
            raise SystemExit(f'error: --save-path {args.save_path}: the '
                             'extension must be .py, .json or .yaml')
        save_format = _FORMATS[ext]
    try:
        cfg = merged_config(args.config, args.cfg_options)
    except FileNotFoundError as exc:
        raise SystemExit(f'error: {exc}') from exc
    print(f'Config:\n{cfg.pretty_text}')
    if args.save_path:
        from bpfn.utils.fileio import atomic_open
        with atomic_open(args.save_path, 'w') as f:
            f.write(config_text(cfg, save_format))
        print(f'Config written to {args.save_path}')


if __name__ == '__main__':
    main()
