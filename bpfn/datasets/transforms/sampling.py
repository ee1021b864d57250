"""Sample a fixed number of points from each cloud."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS
from ..utils import get_sample_rng
from .pc1_rows import take_pc1_rows


@TRANSFORMS.register_module()
class RandomSampleFlowPoints(BaseTransform):
    """Sample ``num_points`` rows of ``pc1`` (with its flow) and of ``pc2``.

    The entries with one row per ``pc1`` row (``flow``, ``pc1_label``,
    ``ego_flow``; a sample without ground truth has none) take the rows of
    ``pc1``.

    As in the original training and evaluation, the two clouds are sampled
    independently (so the network cannot rely on row correspondence),
    without replacement when a cloud has enough points and with replacement
    otherwise.

    In deterministic mode the generator is seeded from ``seed`` and the
    sample index, so two evaluation runs use the same points; otherwise it is
    seeded from torch's global generator (see
    :func:`bpfn.datasets.utils.get_sample_rng`).

    Required keys: ``pc1``, ``pc2``; optional ``flow``, ``pc1_label``,
    ``ego_flow``, ``sample_idx``, ``test_mode``, ``corresponding``.
    Modified: ``pc1``, ``pc2`` (now ``num_points`` rows), the per-row
    entries of ``pc1``, ``corresponding``.

    Args:
        num_points (int): Points kept per cloud. Defaults to 8192.
        deterministic (bool, optional): Seed from the sample index. ``None``
            follows the sample's ``test_mode``. Defaults to None.
        seed (int): Base seed of deterministic mode. Defaults to 0.
        independent (bool): Sample ``pc2`` independently of ``pc1``. When
            False and the clouds correspond, ``pc2`` takes the rows of
            ``pc1``. Defaults to True.
    """

    SALT = 1

    def __init__(self,
                 num_points: int = 8192,
                 deterministic: Optional[bool] = None,
                 seed: int = 0,
                 independent: bool = True) -> None:
        if int(num_points) < 1:
            raise ValueError(f'num_points must be >= 1, got {num_points}')
        self.num_points = int(num_points)
        self.deterministic = deterministic
        self.seed = int(seed)
        self.independent = bool(independent)

    def _choice(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(
            size, size=self.num_points, replace=size < self.num_points)

    def transform(self, results: dict) -> dict:
        """Sample one pair of clouds.

        Args:
            results (dict): Result dict.

        Returns:
            dict: The result dict with ``num_points`` rows per cloud.
        """
        deterministic = self.deterministic
        if deterministic is None:
            deterministic = bool(results.get('test_mode', False))
        rng = get_sample_rng(results, deterministic, self.seed, self.SALT)
        corresponding = bool(results.get('corresponding', False))
        idx1 = self._choice(rng, results['pc1'].shape[0])
        if corresponding and not self.independent:
            idx2 = idx1
        else:
            idx2 = self._choice(rng, results['pc2'].shape[0])
        take_pc1_rows(results, idx1)
        results['pc2'] = results['pc2'][idx2]
        results['corresponding'] = corresponding and not self.independent
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_points={self.num_points}, '
                f'deterministic={self.deterministic}, seed={self.seed}, '
                f'independent={self.independent})')
