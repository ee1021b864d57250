"""Write a minimized copy of the FT3D training set."""
import os
import os.path as osp
import shutil
from typing import Optional

from bpfn.utils.fileio import atomic_path
from ..flyingthings3d import MANIFEST_NAME, select_minimized_subset
from ..utils import check_data_root, list_sample_dirs
from .raw_io import save_json_atomic


def _link_or_copy(src: str, dst: str, link: bool) -> None:
    with atomic_path(dst) as tmp:
        if link:
            os.remove(tmp)  # os.link needs a free name
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copy2(src, tmp)
        else:
            shutil.copy2(src, tmp)


def _copy_sample(src_dir: str, dst_dir: str, link: bool) -> None:
    for fname in sorted(os.listdir(src_dir)):
        src = osp.join(src_dir, fname)
        if osp.isfile(src):
            _link_or_copy(src, osp.join(dst_dir, fname), link)


def create_minimized_ft3d(src_root: str,
                          out_root: str,
                          ratio: float = 0.2,
                          seed: int = 0,
                          link: bool = True,
                          with_val: bool = True,
                          source_label: Optional[str] = None) -> dict:
    """Write a deterministic fraction of the processed FT3D training set.

    The chosen training samples (:func:`select_minimized_subset`) and, with
    ``with_val``, the whole validation split are hard-linked (or copied when
    linking fails or ``link`` is False) to ``out_root``, which then has the
    FT3D layout and a ``manifest.json``.

    Args:
        src_root (str): Processed FT3D folder with ``train/`` (and
            ``val/``).
        out_root (str): Output folder.
        ratio (float): Fraction of the training samples. Defaults to 0.2.
        seed (int): Seed of the choice. Defaults to 0.
        link (bool): Hard-link instead of copying. Defaults to True.
        with_val (bool): Also provide the validation split.
            Defaults to True.
        source_label (str, optional): How the source is named in the
            manifest. Defaults to ``src_root`` as given.

    Returns:
        dict: The manifest (``source``, ``ratio``, ``seed``,
        ``num_source_samples``, ``samples``, ``val_samples``).
    """
    check_data_root(src_root, 'ft3d-mini source',
                    '<SRC>/{train,val}/<sample>/pc1.npy, pc2.npy')
    train_root = osp.join(src_root, 'train')
    if not osp.isdir(train_root):
        raise FileNotFoundError(f'{train_root}: FT3D train folder not found')
    names = list_sample_dirs(train_root, 'ft3d-mini')
    if not names:
        raise FileNotFoundError(f'{train_root}: no sample folder with '
                                'pc1.npy found')
    chosen = select_minimized_subset(names, ratio, seed)
    for name in chosen:
        _copy_sample(
            osp.join(train_root, name), osp.join(out_root, 'train', name),
            link)
    val_names = []
    val_root = osp.join(src_root, 'val')
    if with_val and osp.isdir(val_root):
        val_names = list_sample_dirs(val_root, 'ft3d-mini')
        for name in val_names:
            _copy_sample(
                osp.join(val_root, name), osp.join(out_root, 'val', name),
                link)
    manifest = dict(
        source=source_label if source_label is not None else src_root,
        ratio=float(ratio),
        seed=int(seed),
        num_source_samples=len(names),
        samples=chosen,
        val_samples=len(val_names),
        linked=bool(link))
    save_json_atomic(osp.join(out_root, MANIFEST_NAME), manifest)
    return manifest
