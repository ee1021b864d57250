"""Writers of tiny processed datasets for the dataset tests."""
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np


def write_pair(folder: str, pc1: np.ndarray, pc2: np.ndarray) -> None:
    """Save one sample folder with ``pc1.npy`` and ``pc2.npy``."""
    os.makedirs(folder, exist_ok=True)
    np.save(osp.join(folder, 'pc1.npy'), pc1)
    np.save(osp.join(folder, 'pc2.npy'), pc2)


def random_pair(rng: np.random.Generator, num: int,
                depth=(5.0, 30.0)) -> tuple:
    """Corresponding clouds with depth (z) in ``depth``."""
    pc1 = np.stack([
        rng.uniform(-10, 10, num),
        rng.uniform(-1.2, 2.0, num),
        rng.uniform(*depth, num)
    ],
                   axis=1).astype(np.float32)
    pc2 = (pc1 + rng.normal(0, 0.3, (num, 3))).astype(np.float32)
    return pc1, pc2


def make_ft3d(root: str,
              counts: Dict[str, int] = None,
              num_points: int = 64,
              seed: int = 0) -> Dict[str, Dict[str, tuple]]:
    """Write a processed FT3D tree in the stored layout (x, z negated).

    Returns the loaded-layout clouds per split and sample name.
    """
    counts = counts or dict(train=10, val=3)
    rng = np.random.default_rng(seed)
    clouds = {}
    for split, count in counts.items():
        clouds[split] = {}
        for i in range(count):
            name = f'{i:07d}'
            pc1, pc2 = random_pair(rng, num_points)
            flip = np.array([-1, 1, -1], dtype=np.float32)
            write_pair(osp.join(root, split, name), pc1 * flip, pc2 * flip)
            clouds[split][name] = (pc1, pc2)
    return clouds


def make_kitti(root: str,
               scenes: Sequence[str],
               num_points: int = 64,
               seed: int = 0) -> Dict[str, tuple]:
    """Write processed KITTI scene folders (no axis flip)."""
    rng = np.random.default_rng(seed)
    clouds = {}
    for scene in scenes:
        pc1, pc2 = random_pair(rng, num_points)
        write_pair(osp.join(root, scene), pc1, pc2)
        clouds[scene] = (pc1, pc2)
    return clouds
