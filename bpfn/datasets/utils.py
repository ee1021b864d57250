"""Helpers shared by the scene flow datasets and their transforms.

One validation helper (:func:`validate_cloud`, in :mod:`.readers` with the
file readers) checks every point cloud that enters bpfn, whether it is read
from disk or generated; the collate function :func:`flow_collate` batches
the packed samples for the model.
"""
import csv
import logging
import os
import os.path as osp
from typing import Any, Dict, List, NamedTuple, Sequence, Union

import numpy as np
import torch
from mmengine.logging import print_log

from bpfn.registry import FUNCTIONS
from .readers import load_cloud, validate_cloud  # noqa: F401 (re-exported)

PACKAGE_DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
KITTI_CALIB_FILE = osp.join(PACKAGE_DATA_DIR, 'kitti_sf2015_p_rect_02.csv')
KITTI_SCENES_FILE = osp.join(PACKAGE_DATA_DIR, 'kitti_sf2015_used_scenes.txt')


def check_data_root(data_root: str, dataset: str, layout: str) -> str:
    """Raise a clear error when a dataset folder is missing.

    Args:
        data_root (str): The folder to check.
        dataset (str): Dataset name used in the message.
        layout (str): The expected layout, shown in the message.

    Returns:
        str: ``data_root`` unchanged.
    """
    if not data_root or not osp.isdir(data_root):
        raise FileNotFoundError(
            f'{dataset}: data_root {data_root!r} does not exist or is not a '
            f'directory; expected the layout {layout} (see '
            'tools/create_data.py)')
    return data_root


class SampleDirs(NamedTuple):
    """Sub-folders of a split folder, sorted by name.

    Attributes:
        samples (list[str]): Folders holding ``pc1.npy``.
        incomplete (list[str]): Folders without ``pc1.npy``.
        unreadable (list[str]): Entries that cannot be read, each
            ``'<name> (<reason>)'`` (a symlink loop, no permission, ...).
    """
    samples: List[str]
    incomplete: List[str]
    unreadable: List[str]


def scan_sample_dirs(root: str) -> SampleDirs:
    """Sorted sub-folders of ``root``, with and without ``pc1.npy``.

    An entry that cannot be read (a symlink loop, a folder without
    permission, a ``pc1.npy`` that is a broken link) is listed in
    ``unreadable`` instead of aborting the scan; plain files are ignored.

    Args:
        root (str): Folder whose children are sample folders.

    Returns:
        SampleDirs: ``samples``, ``incomplete`` and ``unreadable``.
    """
    samples, incomplete, unreadable = [], [], []
    with os.scandir(root) as entries:
        for entry in entries:
            try:
                if not entry.is_dir():
                    if entry.is_symlink() and not osp.exists(entry.path):
                        unreadable.append(f'{entry.name} (broken link)')
                    continue
                os.listdir(entry.path)
                pc1 = osp.join(entry.path, 'pc1.npy')
                if osp.lexists(pc1):
                    os.stat(pc1)
                    samples.append(entry.name)
                else:
                    incomplete.append(entry.name)
            except OSError as err:
                unreadable.append(
                    f'{entry.name} ({err.strerror or type(err).__name__})')
    return SampleDirs(sorted(samples), sorted(incomplete), sorted(unreadable))


def warn_unreadable(owner: str, root: str, unreadable: Sequence[str]) -> None:
    """Log one warning naming the unreadable entries of a split folder.

    Args:
        owner (str): Who scanned (a class name), shown first.
        root (str): The scanned folder.
        unreadable (Sequence[str]): Entries from :func:`scan_sample_dirs`.
    """
    if unreadable:
        shown = ', '.join(unreadable[:5])
        more = f' and {len(unreadable) - 5} more' if len(unreadable) > 5 \
            else ''
        print_log(
            f'{owner}: {len(unreadable)} unreadable entr'
            f'{"y" if len(unreadable) == 1 else "ies"} in {root!r} skipped: '
            f'{shown}{more}', logger='current', level=logging.WARNING)


def list_sample_dirs(root: str, owner: str = 'list_sample_dirs') -> List[str]:
    """Sorted names of the sub-folders of ``root`` that hold ``pc1.npy``.

    Unreadable entries are skipped with a warning naming them (and
    ``owner``).
    """
    scan = scan_sample_dirs(root)
    warn_unreadable(owner, root, scan.unreadable)
    return scan.samples


def normalize_scene_names(scenes: Sequence[Union[str, int]],
                          owner: str = 'KITTI') -> List[str]:
    """Scene names as strings, zero-padded, duplicates dropped.

    ``--cfg-options "dataset.scenes=['000002']"`` reaches the config as the
    integer 2 (MMEngine parses the quoted digits), so integers and digit
    strings are padded to six digits: ``2``, ``'2'`` and ``'000002'`` all
    name ``'000002'``. Other strings are kept as given. A repeated scene
    is kept once, with a warning.

    Args:
        scenes (Sequence[str | int]): The names.
        owner (str): Shown in messages. Defaults to ``'KITTI'``.

    Returns:
        list[str]: The names in first-seen order.

    Raises:
        ValueError: If the list is empty or holds something else than
            non-negative integers and strings.
    """
    names: List[str] = []
    for scene in scenes:
        if isinstance(scene, (bool, np.bool_)) or not isinstance(
                scene, (str, int, np.integer)):
            raise ValueError(
                f'{owner}: scene {scene!r} ({type(scene).__name__}) is not a '
                "scene name; expected strings like '000002' or integers")
        if isinstance(scene, str):
            scene = scene.strip()
            name = scene.zfill(6) if scene.isdigit() else scene
        elif scene < 0:
            raise ValueError(f'{owner}: scene {scene} is negative; expected '
                             "names like '000002'")
        else:
            name = f'{int(scene):06d}'
        if not name:
            raise ValueError(f'{owner}: an empty scene name in {scenes!r}')
        names.append(name)
    if not names:
        raise ValueError(
            f'{owner}: the scene list is empty; give scene names such as '
            "scenes=['000002'] (or leave scenes unset for the 142 standard "
            'scenes)')
    unique = list(dict.fromkeys(names))
    if len(unique) < len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        print_log(
            f'{owner}: {len(names) - len(unique)} repeated scene(s) counted '
            f'once: {", ".join(repeated)}', logger='current',
            level=logging.WARNING)
    return unique


def read_scene_list(path: str = KITTI_SCENES_FILE) -> List[str]:
    """Read a list of scene names, one per line.

    Args:
        path (str): Text file. Defaults to the 142 standard KITTI scene flow
            2015 scenes shipped with bpfn.

    Returns:
        list[str]: Scene names in file order, blank lines skipped.
    """
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def load_kitti_calibration(
        path: str = KITTI_CALIB_FILE) -> Dict[str, List[List[float]]]:
    """Read the ``P_rect_02`` projection matrix of every KITTI scene.

    Args:
        path (str): CSV file with a ``scene`` column and ``p00`` .. ``p23``.
            Defaults to the table shipped with bpfn.

    Returns:
        dict[str, list[list[float]]]: Scene name to a 3x4 nested list.
    """
    calib = {}
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        for row in reader:
            calib[row['scene']] = [[float(row[f'p{r}{c}']) for c in range(4)]
                                   for r in range(3)]
    return calib


def get_sample_rng(results: dict,
                   deterministic: bool,
                   seed: int = 0,
                   salt: int = 0) -> np.random.Generator:
    """A numpy Generator for one sample.

    In deterministic (test) mode the generator is seeded from ``seed``, the
    sample index and ``salt``, so every run draws the same numbers for the
    same sample. Otherwise a seed is drawn from torch's global generator:
    the runner seeds it (``randomness=dict(seed=...)``) and every dataloader
    worker gets its own torch seed, so seeded runs are reproducible and
    workers do not repeat each other.

    Args:
        results (dict): The sample's result dict; ``sample_idx`` is used in
            deterministic mode.
        deterministic (bool): Whether to seed from the sample index.
        seed (int): Base seed of deterministic mode. Defaults to 0.
        salt (int): Separates the streams of different transforms.
            Defaults to 0.

    Returns:
        np.random.Generator: The generator.
    """
    if deterministic:
        idx = int(results.get('sample_idx', 0))
        return np.random.default_rng([int(seed), idx, int(salt)])
    draw = int(torch.randint(0, 2**62, (1, )).item())
    return np.random.default_rng([draw, int(salt)])


def _stack(values: Sequence[torch.Tensor], key: str) -> torch.Tensor:
    shapes = {tuple(v.shape) for v in values}
    if len(shapes) != 1:
        raise ValueError(
            f'flow_collate: inputs[{key!r}] have different shapes '
            f'{sorted(shapes)}; sample the same number of points per cloud '
            '(RandomSampleFlowPoints) before batching')
    return torch.stack(list(values), dim=0)


@FUNCTIONS.register_module()
def flow_collate(batch: Sequence[dict]) -> Dict[str, Any]:
    """Collate packed scene flow samples into a batch.

    A batch may mix samples with and without ground truth: an unlabelled
    sample's data sample simply has no ``gt_flow`` (see
    :class:`~bpfn.datasets.transforms.PackFlowInputs`), and the data
    samples stay one dict per sample, so ``[('gt_flow' in ds) for ds in
    batch['data_samples']]`` is the batch's labelled mask.

    Args:
        batch (Sequence[dict]): Samples from :class:`PackFlowInputs`, each
            ``dict(inputs=dict(pc1=(N, 3), pc2=(N, 3)), data_samples=dict)``.

    Returns:
        dict: ``inputs`` with every tensor stacked to ``(B, N, 3)`` and
        ``data_samples`` as the list of the per-sample dicts.
    """
    if len(batch) == 0:
        raise ValueError('flow_collate: got an empty batch')
    keys = batch[0]['inputs'].keys()
    inputs = {
        key: _stack([sample['inputs'][key] for sample in batch], key)
        for key in keys
    }
    data_samples = [sample['data_samples'] for sample in batch]
    return dict(inputs=inputs, data_samples=data_samples)
