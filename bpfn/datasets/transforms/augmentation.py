"""Training augmentation of a pair of clouds."""
import math
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from bpfn.registry import TRANSFORMS
from ..utils import get_sample_rng
from .pc1_rows import MOTION_KEYS


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
                    dtype=np.float32)


@TRANSFORMS.register_module()
class FlowAugmentation(BaseTransform):
    """The FlyingThings3D training augmentation of the original.

    1. Both clouds together: per-axis scale in ``scale_range``, then a
       rotation about the y axis within ``+-rot_range`` degrees, then one
       shift in ``+-shift_range`` per axis plus per-point jitter
       (``N(0, jitter_sigma)`` clipped to ``+-jitter_clip``; the same jitter
       on corresponding rows). The flow is transformed with them.
    2. ``pc2`` alone: a rotation about y within ``+-pc2_rot_range`` degrees
       and a shift in ``+-pc2_shift_range`` per axis; this extra motion is
       part of the ground-truth flow.
    3. Optional ``pc2`` jitter (``pc2_jitter_sigma``, clipped to
       ``pc2_jitter_clip``), noise that is not part of the flow. The
       original turns it off when the clouds are sampled independently.

    The defaults are the original's training settings (its
    ``aug_together``/``aug_pc2`` configuration): scale 0.95-1.05, rotation
    +-10 degrees, shift +-1.0 m, jitter 0.01 clipped at 0 (no jitter), and a
    ``pc2`` shift of +-0.3 m without ``pc2`` rotation.

    Every displacement of ``pc1`` that the sample holds is transformed as
    the flow is (the end point ``pc1 + d`` goes through steps 1 and 2, then
    ``d`` is the new end point minus the new ``pc1``): ``flow`` and
    ``ego_flow`` (the flow of the sensor's motion alone; the ``pc2`` motion
    of step 2 moves the whole second frame, so it is part of both). A
    sample without ground truth (no ``flow``) gets the same transform of its
    clouds.

    Required keys: ``pc1``, ``pc2``; optional ``flow``, ``ego_flow``.
    Modified: the same.

    Args:
        scale_range (Sequence[float]): Scale range. Defaults to (0.95, 1.05).
        rot_range (float): Rotation range (degrees). Defaults to 10.0.
        shift_range (float): Shift range (m). Defaults to 1.0.
        jitter_sigma (float): Jitter std (m). Defaults to 0.01.
        jitter_clip (float): Jitter clip (m). Defaults to 0.0.
        pc2_rot_range (float): ``pc2`` rotation range (degrees).
            Defaults to 0.0.
        pc2_shift_range (float): ``pc2`` shift range (m). Defaults to 0.3.
        pc2_jitter_sigma (float): ``pc2`` jitter std (m). Defaults to 0.0.
        pc2_jitter_clip (float): ``pc2`` jitter clip (m). Defaults to 0.0.
        deterministic (bool, optional): Seed from the sample index (for
            debugging); ``None`` follows ``test_mode``. Defaults to None.
        seed (int): Base seed of deterministic mode. Defaults to 0.
    """

    SALT = 2

    def __init__(self,
                 scale_range: Sequence[float] = (0.95, 1.05),
                 rot_range: float = 10.0,
                 shift_range: float = 1.0,
                 jitter_sigma: float = 0.01,
                 jitter_clip: float = 0.0,
                 pc2_rot_range: float = 0.0,
                 pc2_shift_range: float = 0.3,
                 pc2_jitter_sigma: float = 0.0,
                 pc2_jitter_clip: float = 0.0,
                 deterministic: Optional[bool] = None,
                 seed: int = 0) -> None:
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.rot_range = float(rot_range)
        self.shift_range = float(shift_range)
        self.jitter_sigma = float(jitter_sigma)
        self.jitter_clip = float(jitter_clip)
        self.pc2_rot_range = float(pc2_rot_range)
        self.pc2_shift_range = float(pc2_shift_range)
        self.pc2_jitter_sigma = float(pc2_jitter_sigma)
        self.pc2_jitter_clip = float(pc2_jitter_clip)
        self.deterministic = deterministic
        self.seed = int(seed)

    @staticmethod
    def _jitter(rng: np.random.Generator, num: int, sigma: float,
                clip: float) -> np.ndarray:
        noise = rng.standard_normal((num, 3)) * sigma
        return np.clip(noise, -clip, clip).astype(np.float32)

    def transform(self, results: dict) -> dict:
        """Augment one sample.

        Args:
            results (dict): Result dict.

        Returns:
            dict: The augmented result dict.
        """
        deterministic = self.deterministic
        if deterministic is None:
            deterministic = bool(results.get('test_mode', False))
        rng = get_sample_rng(results, deterministic, self.seed, self.SALT)
        pc1, pc2 = results['pc1'], results['pc2']
        # End points of every displacement of pc1 (flow, ego_flow).
        targets = {
            key: pc1 + results[key]
            for key in MOTION_KEYS if key in results
        }
        corresponding = bool(results.get('corresponding', False))

        # 1. Together: p -> p @ (S R^T) + shift + jitter.
        scale = np.diag(rng.uniform(*self.scale_range,
                                    size=3)).astype(np.float32)
        rot = _rot_y(
            math.radians(rng.uniform(-self.rot_range, self.rot_range)))
        matrix = scale @ rot.T
        shift = rng.uniform(
            -self.shift_range, self.shift_range,
            size=(1, 3)).astype(np.float32)
        jitter1 = self._jitter(rng, pc1.shape[0], self.jitter_sigma,
                               self.jitter_clip)
        if corresponding:
            jitter2 = jitter1
        else:
            jitter2 = self._jitter(rng, pc2.shape[0], self.jitter_sigma,
                                   self.jitter_clip)
        targets = {
            key: end @ matrix + shift + jitter1
            for key, end in targets.items()
        }
        pc1 = pc1 @ matrix + shift + jitter1
        pc2 = pc2 @ matrix + shift + jitter2

        # 2. pc2 alone: a motion that the flow includes.
        rot2 = _rot_y(
            math.radians(rng.uniform(-self.pc2_rot_range, self.pc2_rot_range)))
        shift2 = rng.uniform(
            -self.pc2_shift_range, self.pc2_shift_range,
            size=(1, 3)).astype(np.float32)
        pc2 = pc2 @ rot2.T + shift2
        for key, end in targets.items():
            results[key] = (end @ rot2.T + shift2 - pc1).astype(np.float32)

        # 3. pc2 noise outside the flow.
        if self.pc2_jitter_sigma > 0 and self.pc2_jitter_clip > 0:
            pc2 = pc2 + self._jitter(rng, pc2.shape[0], self.pc2_jitter_sigma,
                                     self.pc2_jitter_clip)

        results['pc1'] = pc1.astype(np.float32)
        results['pc2'] = pc2.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale_range={self.scale_range}, '
                f'rot_range={self.rot_range}, '
                f'shift_range={self.shift_range}, '
                f'jitter_sigma={self.jitter_sigma}, '
                f'jitter_clip={self.jitter_clip}, '
                f'pc2_rot_range={self.pc2_rot_range}, '
                f'pc2_shift_range={self.pc2_shift_range}, '
                f'pc2_jitter_sigma={self.pc2_jitter_sigma}, '
                f'pc2_jitter_clip={self.pc2_jitter_clip})')
