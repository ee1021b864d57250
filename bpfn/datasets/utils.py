"""Helpers shared by the scene flow datasets and their transforms.

One validation helper (:func:`validate_cloud`) checks every point cloud that
enters bpfn, whether it is read from disk or generated; the collate function
:func:`flow_collate` batches the packed samples for the model.
"""
import csv
import os
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch

from bpfn.registry import FUNCTIONS

PACKAGE_DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
KITTI_CALIB_FILE = osp.join(PACKAGE_DATA_DIR, 'kitti_sf2015_p_rect_02.csv')
KITTI_SCENES_FILE = osp.join(PACKAGE_DATA_DIR, 'kitti_sf2015_used_scenes.txt')


def validate_cloud(cloud: Any, source: str) -> np.ndarray:
    """Check that ``cloud`` is a finite, non-empty float ``(N, 3)`` array.

    Args:
        cloud (Any): The candidate point cloud.
        source (str): What the cloud is (a file path or a field name); it is
            named in every error message.

    Returns:
        np.ndarray: The cloud as a C-contiguous float32 array of shape
        ``(N, 3)``.

    Raises:
        ValueError: If the cloud is not an array, has another shape than
            ``(N, 3)``, a non-float dtype, no points, or NaN/inf values.
    """
    if not isinstance(cloud, np.ndarray):
        raise ValueError(f'{source}: expected a numpy array of shape (N, 3), '
                         f'got {type(cloud).__name__}')
    if cloud.ndim != 2 or cloud.shape[1] != 3:
        raise ValueError(f'{source}: expected an array of shape (N, 3), got '
                         f'shape {tuple(cloud.shape)}')
    if not np.issubdtype(cloud.dtype, np.floating):
        raise ValueError(f'{source}: expected a float array (float32 or '
                         f'float64), got dtype {cloud.dtype}')
    if cloud.shape[0] == 0:
        raise ValueError(f'{source}: the point cloud is empty (0 points); '
                         'expected at least one point of shape (N, 3)')
    finite = np.isfinite(cloud).all(axis=1)
    if not finite.all():
        bad = int((~finite).sum())
        first = int(np.flatnonzero(~finite)[0])
        raise ValueError(f'{source}: {bad} point(s) contain NaN or inf '
                         f'(first at row {first}); expected finite '
                         'coordinates')
    return np.ascontiguousarray(cloud, dtype=np.float32)


def load_cloud(path: str) -> np.ndarray:
    """Load and validate one ``.npy`` point cloud.

    Args:
        path (str): Path of a ``.npy`` file holding an ``(N, 3)`` float
            array.

    Returns:
        np.ndarray: float32 array of shape ``(N, 3)``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file cannot be read as a plain numpy array or the
            array fails :func:`validate_cloud`.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: point cloud file not found; expected an (N, 3) float '
            'array saved with numpy.save')
    try:
        cloud = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f'{path}: cannot be read as a .npy array of shape '
                         f'(N, 3) ({err})') from err
    return validate_cloud(cloud, path)


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


def scan_sample_dirs(root: str) -> Tuple[List[str], List[str]]:
    """Sorted sub-folders of ``root``, with and without ``pc1.npy``.

    Args:
        root (str): Folder whose children are sample folders.

    Returns:
        tuple[list[str], list[str]]: Names of the sample folders (holding
        ``pc1.npy``) and of the other sub-folders.
    """
    samples, others = [], []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir():
                has_pc1 = osp.exists(osp.join(entry.path, 'pc1.npy'))
                (samples if has_pc1 else others).append(entry.name)
    return sorted(samples), sorted(others)


def list_sample_dirs(root: str) -> List[str]:
    """Sorted names of the sub-folders of ``root`` that hold ``pc1.npy``."""
    return scan_sample_dirs(root)[0]


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
