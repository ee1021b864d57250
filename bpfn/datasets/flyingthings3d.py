"""FlyingThings3D subset in the HPLFlowNet processed layout."""
import json
import logging
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from bpfn.registry import DATASETS
from .base_flow_dataset import BaseSceneFlowDataset
from .utils import check_data_root, scan_sample_dirs, warn_unreadable

FT3D_LAYOUT = '<data_root>/{train,val}/<sample>/pc1.npy, pc2.npy'
#: Samples per split of the standard processed FT3D (HPLFlowNet layout).
FT3D_SPLIT_SIZES = dict(train=19640, val=3824)
#: Name of the file that describes a minimized copy of the training set.
MANIFEST_NAME = 'manifest.json'


def select_minimized_subset(names: Sequence[str],
                            ratio: float = 0.2,
                            seed: int = 0) -> List[str]:
    """Pick a deterministic fraction of the training samples.

    The names are sorted first, so the choice depends only on the set of
    names, ``ratio`` and ``seed``.

    Args:
        names (Sequence[str]): All training sample names.
        ratio (float): Fraction to keep, in (0, 1]. Defaults to 0.2.
        seed (int): Seed of the choice. Defaults to 0.

    Returns:
        list[str]: The kept names, sorted.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f'ratio must be in (0, 1], got {ratio}')
    names = sorted(names)
    num = max(1, int(round(len(names) * ratio))) if names else 0
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(names), size=num, replace=False)
    return [names[i] for i in sorted(keep.tolist())]


@DATASETS.register_module()
class FlyingThings3D(BaseSceneFlowDataset):
    """FlyingThings3D subset as processed by HPLFlowNet.

    Each sample folder holds ``pc1.npy`` and ``pc2.npy``, two ``(N, 3)``
    float arrays whose rows correspond: the ground-truth flow is
    ``pc2 - pc1``. They are HPLFlowNet's processed files (downloaded, or
    written by ``tools/create_data.py ft3d``): a pixel ``(u, v)`` of the
    subset's (negative) disparity ``d`` is stored as
    ``((u - cx) * -1 / d, (v - cy) / d, 1050 / d)``, z negative. The loader
    negates x and z (``flip_axes=(0, 2)`` in every sample's info), as
    HPLFlowNet's loader does, giving ``(-(u - cx) / |d|, -(v - cy) / |d|,
    1050 / |d|)``: z forward, y up, x to the left, which the FT3D camera of
    the 2D metrics (``f = -1050``) projects back onto ``(u, v)``.

    Sample folders are listed in name order; folders without ``pc1.npy``
    and unreadable entries (a symlink loop, no permission) are skipped with
    a warning naming them.

    Args:
        data_root (str): Folder with ``train/`` and ``val/``.
        split (str): ``'train'`` or ``'val'``. Defaults to ``'train'``.
        every_k (int): Keep every k-th sample of the sorted list (the
            original trains on every 4th training sample). Defaults to 1.
        offset (int): Index of the first kept sample, in
            ``[0, every_k)``: ``every_k=4, offset=2`` keeps samples 2, 6,
            10, ..., none of which the ``offset=0`` subset holds.
            Defaults to 0.
        flip_axes (Sequence[int]): Axes negated when loading.
            Defaults to ``(0, 2)``.
        **kwargs: See :class:`BaseSceneFlowDataset`.
    """

    METAINFO = dict(dataset_name='FT3D')
    DEFAULT_CAMERA = 'ft3d'

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 every_k: int = 1,
                 offset: int = 0,
                 flip_axes: Sequence[int] = (0, 2),
                 **kwargs) -> None:
        if split not in ('train', 'val'):
            raise ValueError(
                f"FlyingThings3D: split must be 'train' or 'val', got "
                f'{split!r}')
        if int(every_k) < 1:
            raise ValueError(f'FlyingThings3D: every_k must be >= 1, got '
                             f'{every_k}')
        if not 0 <= int(offset) < int(every_k):
            raise ValueError(f'FlyingThings3D: offset must be in [0, '
                             f'every_k={int(every_k)}), got {offset}')
        self.split = split
        self.every_k = int(every_k)
        self.offset = int(offset)
        self.flip_axes = tuple(int(a) for a in flip_axes)
        super().__init__(data_root=data_root, **kwargs)

    def _split_root(self) -> str:
        check_data_root(self.data_root, type(self).__name__, FT3D_LAYOUT)
        root = osp.join(self.data_root, self.split)
        if not osp.isdir(root):
            raise FileNotFoundError(
                f'{type(self).__name__}: split folder {root!r} does not '
                f'exist; expected the layout {FT3D_LAYOUT}')
        return root

    def _manifest_path(self) -> str:
        """Where a minimized copy of FT3D keeps its manifest."""
        return osp.join(self.data_root, MANIFEST_NAME)

    def select_names(self, names: List[str]) -> List[str]:
        """Choose the samples to use among the sorted folder names.

        Args:
            names (list[str]): All sample names of the split, sorted.

        Returns:
            list[str]: The used names.
        """
        return names[self.offset::self.every_k]

    def selection_rule(self) -> str:
        """How :meth:`select_names` chooses, for the size report."""
        return f'every_k={self.every_k}, offset={self.offset}'

    def load_data_list(self) -> List[dict]:
        """Collect the sample folders of the split.

        Returns:
            list[dict]: One info dict per sample with ``sample_name``,
            ``pc1_path``, ``pc2_path`` and ``flip_axes``.
        """
        root = self._split_root()
        names, others, unreadable = scan_sample_dirs(root)
        warn_unreadable(type(self).__name__, root, unreadable)
        if not names:
            raise FileNotFoundError(
                f'{type(self).__name__}: no sample folder with pc1.npy '
                f'found in {root!r}; expected the layout {FT3D_LAYOUT}')
        if others:
            shown = ', '.join(repr(n) for n in others[:3])
            print_log(
                f'{type(self).__name__}: {len(others)} folder(s) in {root!r} '
                f'have no pc1.npy and are skipped (e.g. {shown}); an '
                'interrupted conversion?', logger='current',
                level=logging.WARNING)
        standard = FT3D_SPLIT_SIZES[self.split]
        # A minimized copy (with its manifest) holds fewer training samples
        # by design.
        minimized_copy = osp.isfile(self._manifest_path())
        if len(names) != standard and not (minimized_copy
                                           and self.split == 'train'):
            print_log(
                f'{type(self).__name__}: {len(names)} samples in {root!r}; '
                f"the standard processed FT3D {self.split} split has "
                f'{standard}, so results are not comparable with published '
                'ones', logger='current', level=logging.WARNING)
        chosen = self.select_names(names)
        self.selection = (f'{self.selection_rule()} of {len(names)} in '
                          f'{root}')
        data_list = []
        for name in chosen:
            folder = osp.join(root, name)
            data_list.append(
                dict(
                    sample_name=name,
                    pc1_path=osp.join(folder, 'pc1.npy'),
                    pc2_path=osp.join(folder, 'pc2.npy'),
                    flip_axes=self.flip_axes))
        return data_list


@DATASETS.register_module()
class MinimizedFlyingThings3D(FlyingThings3D):
    """A deterministic fraction (1/5 by default) of the FT3D training set.

    On a full FT3D folder the training samples are chosen with
    :func:`select_minimized_subset`. On a folder written by
    ``tools/create_data.py ft3d-mini`` (it holds ``manifest.json``) the
    samples listed in the manifest are used; ``ratio`` and ``seed`` must then
    match the manifest. The validation split is never reduced.

    Args:
        data_root (str): FT3D folder or a minimized copy of it.
        ratio (float): Fraction of the training samples. Defaults to 0.2.
        seed (int): Seed of the choice. Defaults to 0.
        **kwargs: See :class:`FlyingThings3D`.
    """

    def __init__(self,
                 data_root: str,
                 ratio: float = 0.2,
                 seed: int = 0,
                 **kwargs) -> None:
        self.ratio = float(ratio)
        self.seed = int(seed)
        self._num_minimized = 0
        super().__init__(data_root=data_root, **kwargs)

    def _read_manifest(self) -> Optional[dict]:
        path = self._manifest_path()
        if not osp.isfile(path):
            return None
        with open(path) as f:
            manifest = json.load(f)
        if (abs(float(manifest.get('ratio', -1)) - self.ratio) > 1e-12
                or int(manifest.get('seed', -1)) != self.seed):
            raise ValueError(
                f'{path}: made with ratio={manifest.get("ratio")}, '
                f'seed={manifest.get("seed")}, but the dataset asks for '
                f'ratio={self.ratio}, seed={self.seed}')
        return manifest

    def selection_rule(self) -> str:
        """How :meth:`select_names` chooses, for the size report."""
        rule = super().selection_rule()
        if self.split != 'train':
            return rule
        source = ('manifest.json' if osp.isfile(self._manifest_path()) else
                  f'ratio={self.ratio}, seed={self.seed}')
        return f'minimized ({source}) to {self._num_minimized}, then {rule}'

    def select_names(self, names: List[str]) -> List[str]:
        """Apply the minimized selection to the training split.

        Args:
            names (list[str]): All sample names of the split, sorted.

        Returns:
            list[str]: The used names.
        """
        if self.split != 'train':
            return super().select_names(names)
        manifest = self._read_manifest()
        if manifest is not None:
            listed = set(manifest['samples'])
            missing = sorted(listed.difference(names))
            if missing:
                raise FileNotFoundError(
                    f'{self._manifest_path()} lists '
                    f'{len(missing)} sample(s) missing from the train '
                    f'folder, e.g. {missing[:3]}')
            chosen = [n for n in names if n in listed]
        else:
            chosen = select_minimized_subset(names, self.ratio, self.seed)
        self._num_minimized = len(chosen)
        return chosen[self.offset::self.every_k]
