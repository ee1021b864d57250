"""Procedural scene flow scenes: no download, deterministic per index."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from bpfn.registry import DATASETS
from .base_flow_dataset import BaseSceneFlowDataset
from .readers import MAX_POINTS, validate_cloud

#: Seed stream of each split, so held-out scenes differ from training ones.
SPLIT_STREAMS = dict(train=0, val=1, test=2)

# Faces of a box (the bottom face is never seen): (normal axis, sign).
_BOX_FACES = ((0, 1.0), (0, -1.0), (2, 1.0), (2, -1.0), (1, 1.0))


def rot_y(angle: float) -> np.ndarray:
    """Rotation matrix about the y (up) axis.

    Args:
        angle (float): Angle in radians.

    Returns:
        np.ndarray: ``(3, 3)`` float64 matrix.
    """
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


class _Box:
    """A rigid box on the ground with its own motion between the frames.

    A pose ``(R, t)`` maps box coordinates to frame-1 coordinates as
    ``p @ R.T + t``; pose 1 is the box at time 1, pose 2 after its motion.
    """

    def __init__(self, rng: np.random.Generator, ground_y: float,
                 max_speed: float, parked_ratio: float) -> None:
        self.size = np.array([
            rng.uniform(1.2, 2.6),  # width (x)
            rng.uniform(1.0, 2.2),  # height (y)
            rng.uniform(1.5, 5.0),  # length (z)
        ])
        center = np.array([
            rng.uniform(-9.0, 9.0), ground_y + self.size[1] / 2,
            rng.uniform(6.0, 30.0)
        ])
        rot = rot_y(rng.uniform(-math.pi, math.pi))
        self.pose1 = (rot, center)
        if rng.uniform() < parked_ratio:
            self.pose2 = self.pose1
        else:
            # Drive along the heading; turn (up to ~4.6 degrees) only while
            # moving.
            speed = rng.uniform(-max_speed, max_speed)
            turn = rot_y(rng.uniform(-0.08, 0.08) * min(abs(speed), 1.0))
            self.pose2 = (turn @ rot, center + rot[:, 2] * speed)

    def face_areas(self) -> np.ndarray:
        w, h, length = self.size
        return np.array([h * length, h * length, w * h, w * h, w * length])

    def visible_faces(self, pose: Tuple[np.ndarray, np.ndarray],
                      sensor: np.ndarray) -> np.ndarray:
        """Faces whose outer side faces the sensor, as a ``(5,)`` mask.

        ``n . p`` is constant over a planar face, so a face is either seen
        whole or not at all (back-face culling).
        """
        rot, center = pose
        mask = np.zeros(len(_BOX_FACES), dtype=bool)
        for i, (axis, sign) in enumerate(_BOX_FACES):
            normal = rot[:, axis] * sign
            face_center = center + normal * self.size[axis] / 2
            mask[i] = normal @ (face_center - sensor) < 0
        return mask

    def sample(self, rng: np.random.Generator, num: int,
               faces: np.ndarray) -> np.ndarray:
        """``num`` points on the ``faces`` (mask), in box coordinates."""
        cum = np.cumsum(self.face_areas() * faces)
        face = np.searchsorted(cum, rng.random(num) * cum[-1], side='right')
        local = rng.uniform(-0.5, 0.5, size=(num, 3))
        for i, (axis, sign) in enumerate(_BOX_FACES):
            local[face == i, axis] = 0.5 * sign
        return local * self.size

    @staticmethod
    def apply(pose: Tuple[np.ndarray, np.ndarray],
              local: np.ndarray) -> np.ndarray:
        return local @ pose[0].T + pose[1]

    def corners(self, pose: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        signs = np.array([[sx, sy, sz] for sx in (-0.5, 0.5)
                          for sy in (-0.5, 0.5) for sz in (-0.5, 0.5)])
        return self.apply(pose, signs * self.size)


def _in_view(points: np.ndarray,
             max_depth: float,
             tan_half_fov: float,
             min_depth: float = 1.0) -> np.ndarray:
    z = points[:, 2]
    return ((z > min_depth) & (z < max_depth)
            & (np.abs(points[:, 0]) < z * tan_half_fov))


def _shadow_mask(points: np.ndarray, owner: np.ndarray,
                 corners: Sequence[np.ndarray]) -> np.ndarray:
    """True for points hidden behind a box they do not belong to.

    A point is hidden when its direction falls inside the box's azimuth and
    elevation range and it is farther than the box's farthest corner.
    """
    hidden = np.zeros(len(points), dtype=bool)
    flat = np.hypot(points[:, 0], points[:, 2])
    dist = np.hypot(flat, points[:, 1])
    az = np.arctan2(points[:, 0], points[:, 2])
    el = np.arctan2(points[:, 1], flat)
    for k, cor in enumerate(corners):
        if (cor[:, 2] <= 0.5).any():
            continue
        c_flat = np.hypot(cor[:, 0], cor[:, 2])
        c_az = np.arctan2(cor[:, 0], cor[:, 2])
        c_el = np.arctan2(cor[:, 1], c_flat)
        hidden |= ((owner != k) & (az > c_az.min()) & (az < c_az.max())
                   & (el > c_el.min()) & (el < c_el.max())
                   & (dist > np.hypot(c_flat, cor[:, 1]).max()))
    return hidden


class _StaticScene:
    """Ground, wall segments and poles: the static part of a scene.

    Wall segments (with gaps) and poles give the static background features
    along the driving direction, so the ego motion can be observed; a flat
    ground or an endless wall alone would not show it.
    """

    def __init__(self, rng: np.random.Generator, reach: float) -> None:
        self.ground_y = -rng.uniform(1.45, 1.85)
        segments = []  # (x, z0, z1, height)
        for sign in (-1.0, 1.0):
            if rng.uniform() < 0.8:
                x = sign * rng.uniform(5.0, 12.0)
                z = rng.uniform(0.0, 4.0)
                while z < reach:
                    length = rng.uniform(3.0, 12.0)
                    segments.append((x, z, min(z + length,
                                               reach), rng.uniform(2.0, 6.0)))
                    z += length + rng.uniform(1.0, 5.0)
        self.segments = np.array(segments).reshape(-1, 4)
        num_poles = int(rng.integers(6, 15))
        self.poles = np.stack(
            [
                rng.uniform(-15.0, 15.0, num_poles),  # x
                rng.uniform(3.0, reach - 4.0, num_poles),  # z
                rng.uniform(0.1, 0.4, num_poles),  # radius
                rng.uniform(2.0, 5.0, num_poles),  # height
            ],
            axis=1)

    def sample(self, rng: np.random.Generator, num: int, reach: float,
               half_fov: float, sensor: np.ndarray) -> np.ndarray:
        """``num`` static points in frame-1 coordinates.

        Poles are sampled on the half facing ``sensor`` (frame-1
        coordinates).
        """
        shares = np.array([0.55, 0.25 if len(self.segments) else 0.0, 0.2])
        counts = np.floor(num * shares / shares.sum()).astype(int)
        counts[0] = num - counts[1:].sum()
        # Ground: uniform in range and azimuth, so nearby ground is denser,
        # as with a range sensor.
        r = rng.uniform(1.5, reach, size=counts[0])
        az = rng.uniform(-half_fov - 0.1, half_fov + 0.1, size=counts[0])
        parts = [
            np.stack([
                r * np.sin(az) + sensor[0],
                np.full(counts[0], self.ground_y), r * np.cos(az) + sensor[2]
            ],
                     axis=1)
        ]
        if counts[1]:
            seg = self.segments[rng.choice(
                len(self.segments),
                size=counts[1],
                p=(self.segments[:, 2] - self.segments[:, 1]) /
                (self.segments[:, 2] - self.segments[:, 1]).sum())]
            z = seg[:, 1] + rng.random(counts[1]) * (seg[:, 2] - seg[:, 1])
            y = self.ground_y + rng.random(counts[1]) * seg[:, 3]
            parts.append(np.stack([seg[:, 0], y, z], axis=1))
        if counts[2]:
            pole = self.poles[rng.integers(0, len(self.poles), counts[2])]
            facing = np.arctan2(sensor[0] - pole[:, 0], sensor[2] - pole[:, 1])
            theta = facing + rng.uniform(-math.pi / 2, math.pi / 2, counts[2])
            y = self.ground_y + rng.random(counts[2]) * pole[:, 3]
            parts.append(
                np.stack([
                    pole[:, 0] + pole[:, 2] * np.sin(theta), y,
                    pole[:, 1] + pole[:, 2] * np.cos(theta)
                ],
                         axis=1))
        return np.concatenate(parts, axis=0)


def _draw_visible(rng: np.random.Generator, draw, num: int) -> tuple:
    """Draw surface points until ``num`` are visible, then pick ``num``.

    About a third of the drawn points are hidden (outside the view or in a
    shadow), so batches of ``1.6 num`` are drawn, at most four times; only a
    scene that hides nearly everything repeats points.
    """
    parts = []
    total = 0
    for _ in range(4):
        batch = draw(int(1.6 * num) + 256)
        parts.append(batch)
        total += len(batch[0])
        if total >= num:
            break
    if total == 0:
        raise RuntimeError('synthetic scene has no visible point')
    arrays = [np.concatenate(a, axis=0) for a in zip(*parts)]
    pick = rng.choice(total, size=num, replace=total < num)
    return tuple(a[pick] for a in arrays)


def generate_synthetic_scene(
        rng: np.random.Generator,
        num_points: int = 8192,
        max_depth: float = 35.0,
        noise_std: float = 0.01,
        num_objects: Tuple[int, int] = (3, 6),
        fov_deg: float = 90.0,
        ego_speed: Tuple[float, float] = (0.2, 1.2),
        ego_yaw_deg: float = 1.5,
        object_speed: float = 1.0,
        parked_ratio: float = 0.4,
        object_share: float = 0.3,
        with_labels: bool = False) -> Dict[str, np.ndarray]:
    """Generate one scene flow sample.

    The scene is a flat ground, wall segments on the sides, poles and a few
    boxes, seen by a sensor that moves forward and turns a little (ego
    motion) while most boxes move rigidly on their own. Coordinates follow the processed
    FT3D/KITTI convention: z forward (depth up to ``max_depth``), y up (the
    ground near ``y = -1.65``), x to the side. Both clouds are drawn
    independently from the surfaces, so their points do not correspond;
    back faces, the far side of poles and points behind boxes are hidden in
    each frame, points of
    ``pc1`` may leave the view in frame 2, and Gaussian sensor noise is
    added to both clouds.

    Args:
        rng (np.random.Generator): Source of all randomness.
        num_points (int): Points per cloud. Defaults to 8192.
        max_depth (float): Largest depth of a point. Defaults to 35.0.
        noise_std (float): Sensor noise (m) added to both clouds.
            Defaults to 0.01.
        num_objects (tuple[int, int]): Inclusive range of the number of
            boxes. Defaults to (3, 6).
        fov_deg (float): Horizontal field of view. Defaults to 90.0.
        ego_speed (tuple[float, float]): Range of the forward ego motion
            (m per frame). Defaults to (0.2, 1.2).
        ego_yaw_deg (float): Largest ego turn (degrees). Defaults to 1.5.
        object_speed (float): Largest box motion (m per frame) along its
            heading. Defaults to 1.0.
        parked_ratio (float): Probability that a box does not move.
            Defaults to 0.4.
        object_share (float): Share of the drawn points on boxes.
            Defaults to 0.3.
        with_labels (bool): Also return ``pc1_label`` ``(num_points,)``
            int32 (-1 for static points, else the box index) and
            ``ego_flow`` ``(num_points, 3)`` (the flow the ego motion alone
            gives). Defaults to False.

    Returns:
        dict: ``pc1`` ``(num_points, 3)``, ``pc2`` ``(num_points, 3)`` and
        ``flow`` ``(num_points, 3)`` (the motion of each ``pc1`` point),
        all float32, plus the labels if asked.
    """
    half_fov = math.radians(fov_deg) / 2
    reach = max_depth + 2.0
    static = _StaticScene(rng, reach)
    boxes = [
        _Box(rng, static.ground_y, object_speed, parked_ratio)
        for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1)))
    ]
    # Ego motion: the sensor turns by ego_r and moves by ego_t (frame-1
    # coordinates); a point p of the scene is seen at ego_r^T (p - ego_t).
    ego_r = rot_y(math.radians(rng.uniform(-ego_yaw_deg, ego_yaw_deg)))
    ego_t = np.array([
        rng.uniform(-0.15, 0.15),
        rng.uniform(-0.03, 0.03),
        rng.uniform(*ego_speed)
    ])

    def to_frame2(points: np.ndarray) -> np.ndarray:
        return (points - ego_t) @ ego_r

    tan_half_fov = math.tan(half_fov)
    origin = np.zeros(3)
    corners1 = [b.corners(b.pose1) for b in boxes]
    corners2 = [to_frame2(b.corners(b.pose2)) for b in boxes]
    faces1 = [b.visible_faces(b.pose1, origin) for b in boxes]
    faces2 = [b.visible_faces(b.pose2, ego_t) for b in boxes]

    def surface(num: int, faces: List[np.ndarray],
                sensor: np.ndarray) -> tuple:
        """Static points and box points (box coordinates) per box."""
        # Nearby and large boxes get more points, object_share in total.
        weight = np.array([(b.face_areas() * f).sum() /
                           max(np.hypot(b.pose1[1][0], b.pose1[1][2]), 4.0)
                           for b, f in zip(boxes, faces)])
        counts = np.floor(num * object_share * weight /
                          max(weight.sum(), 1e-9)).astype(int)
        bg = static.sample(rng, num - int(counts.sum()), reach, half_fov,
                           sensor)
        local = [
            b.sample(rng, int(n), f) for b, n, f in zip(boxes, counts, faces)
        ]
        owner = np.repeat(np.arange(-1, len(boxes)), [len(bg), *counts])
        return bg, local, owner

    def draw_frame1(num: int) -> Tuple[np.ndarray, ...]:
        bg, local, owner = surface(num, faces1, origin)
        p1 = np.concatenate(
            [bg] + [b.apply(b.pose1, x) for b, x in zip(boxes, local)])
        p2 = np.concatenate(
            [bg] + [b.apply(b.pose2, x) for b, x in zip(boxes, local)])
        keep = (
            _in_view(p1, max_depth, tan_half_fov)
            & ~_shadow_mask(p1, owner, corners1))
        return p1[keep], to_frame2(p2[keep]) - p1[keep], owner[keep]

    def draw_frame2(num: int) -> Tuple[np.ndarray]:
        # New surface samples, moved, then seen from the moved sensor.
        bg, local, owner = surface(num, faces2, ego_t)
        q2 = to_frame2(
            np.concatenate([bg] +
                           [b.apply(b.pose2, x)
                            for b, x in zip(boxes, local)]))
        keep = (
            _in_view(q2, max_depth, tan_half_fov)
            & ~_shadow_mask(q2, owner, corners2))
        return (q2[keep], )

    p1, flow, owner = _draw_visible(rng, draw_frame1, num_points)
    p2, = _draw_visible(rng, draw_frame2, num_points)
    ego_flow = to_frame2(p1) - p1

    if noise_std > 0:
        p1 = p1 + rng.normal(0.0, noise_std, size=p1.shape)
        p2 = p2 + rng.normal(0.0, noise_std, size=p2.shape)
    scene = dict(
        pc1=p1.astype(np.float32),
        pc2=p2.astype(np.float32),
        flow=flow.astype(np.float32))
    if with_labels:
        scene['pc1_label'] = owner.astype(np.int32)
        scene['ego_flow'] = ego_flow.astype(np.float32)
    return scene


@DATASETS.register_module()
class SyntheticSceneFlow(BaseSceneFlowDataset):
    """Procedural scene flow samples generated on the fly.

    Sample ``i`` of a split is generated from a generator seeded with
    ``(seed, split stream, i)``: it is the same in every run and worker, and
    the ``'train'``, ``'val'`` and ``'test'`` splits never share scenes. See
    :func:`generate_synthetic_scene` for the scene model. The flow is
    structured (ego rotation and translation plus a few rigid boxes), so a
    network can learn it in minutes. Samples carry ``camera='ft3d'``.

    Every labelled sample also carries the per-point labels of the Threeway
    EPE: ``pc1_label`` (-1 for the static background, else the index of the
    box) and ``ego_flow`` (the flow of the sensor's motion alone). The
    metainfo gives ``frame_interval=0.1`` s: the scenes model a 10 Hz
    sensor, so the motions per frame (ego 0.2-1.2 m, boxes up to
    ``object_speed`` = 1 m) are 2-12 m/s and up to 10 m/s.

    ``labeled_fraction`` hides the ground truth of all but a fraction of the
    scenes: ``k = round(labeled_fraction * num_samples)`` scenes (at least
    one when the fraction is above 0) keep their labels, namely the first
    ``k`` of a permutation of ``0 .. num_samples - 1`` drawn from ``(seed,
    split, num_samples)``. With the same seed and ``num_samples`` the
    scenes kept by a smaller fraction are among those kept by a larger one.
    A hidden scene is the same scene (the same clouds) without ``flow``,
    ``pc1_label`` and ``ego_flow``: a real unlabelled sample, without
    ``gt_flow`` after :class:`~bpfn.datasets.transforms.PackFlowInputs`.
    :meth:`labeled_mask` lists which samples keep labels.

    Args:
        num_samples (int): Length of the dataset. Defaults to 1000.
        num_points (int): Points per cloud. Defaults to 8192.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
            Defaults to ``'train'``.
        seed (int): Base seed. Defaults to 0.
        max_depth (float): Largest depth. Defaults to 35.0.
        noise_std (float): Sensor noise (m). Defaults to 0.01.
        num_objects (Sequence[int]): Inclusive range of the number of
            boxes. Defaults to (3, 6).
        scene_cfg (dict, optional): Further arguments of
            :func:`generate_synthetic_scene` (``ego_speed``,
            ``object_speed``, ...). Defaults to None.
        labeled_fraction (float): Share of the scenes that keep their
            ground truth, in [0, 1]. Defaults to 1.0 (all).
        **kwargs: See :class:`BaseSceneFlowDataset` (``pipeline``,
            ``test_mode``, ``dataset_name``, ...).
    """

    METAINFO = dict(dataset_name='Synthetic', frame_interval=0.1)
    DEFAULT_CAMERA = 'ft3d'
    #: Separates the permutation of ``labeled_fraction`` from the scenes'
    #: generators.
    LABEL_SALT = 5

    def __init__(self,
                 num_samples: int = 1000,
                 num_points: int = 8192,
                 split: str = 'train',
                 seed: int = 0,
                 max_depth: float = 35.0,
                 noise_std: float = 0.01,
                 num_objects: Sequence[int] = (3, 6),
                 scene_cfg: Optional[dict] = None,
                 labeled_fraction: float = 1.0,
                 **kwargs) -> None:
        if split not in SPLIT_STREAMS:
            raise ValueError(f'SyntheticSceneFlow: split must be one of '
                             f'{sorted(SPLIT_STREAMS)}, got {split!r}')
        if int(num_samples) < 1 or int(num_points) < 1:
            raise ValueError('SyntheticSceneFlow: num_samples and num_points '
                             f'must be >= 1, got {num_samples}, {num_points}')
        if int(num_points) > MAX_POINTS:
            raise ValueError(
                f'SyntheticSceneFlow: num_points={num_points} is more than '
                f'the limit of {MAX_POINTS} points per cloud '
                '(bpfn.datasets.readers.MAX_POINTS)')
        if not 0.0 <= float(labeled_fraction) <= 1.0:
            raise ValueError(
                'SyntheticSceneFlow: labeled_fraction must be in [0, 1], got '
                f'{labeled_fraction}')
        self.num_samples = int(num_samples)
        self.num_points = int(num_points)
        self.split = split
        self.seed = int(seed)
        self.max_depth = float(max_depth)
        self.noise_std = float(noise_std)
        self.num_objects = (int(num_objects[0]), int(num_objects[1]))
        self.scene_cfg = dict(scene_cfg or {})
        if 'with_labels' in self.scene_cfg:
            raise ValueError(
                'SyntheticSceneFlow: scene_cfg must not set with_labels; the '
                'labels are always generated (labeled_fraction hides them)')
        self.labeled_fraction = float(labeled_fraction)
        kwargs.setdefault('data_root', '')
        super().__init__(**kwargs)

    def labeled_scenes(self) -> np.ndarray:
        """The scene indices that keep their ground truth.

        Returns:
            np.ndarray: Sorted int64 indices in ``[0, num_samples)``.
        """
        n = self.num_samples
        if self.labeled_fraction >= 1.0:
            return np.arange(n)
        k = int(round(self.labeled_fraction * n))
        if self.labeled_fraction > 0:
            k = max(k, 1)
        rng = np.random.default_rng(
            [self.seed, SPLIT_STREAMS[self.split], n, self.LABEL_SALT])
        return np.sort(rng.permutation(n)[:k])

    def load_data_list(self) -> List[dict]:
        """One small info dict per sample (the clouds are generated later).

        Returns:
            list[dict]: Info dicts with ``sample_name``, ``scene_idx`` and
            ``labeled``.
        """
        labeled = np.zeros(self.num_samples, dtype=bool)
        labeled[self.labeled_scenes()] = True
        self.selection = (f'generated, seed={self.seed}, {self.num_points} '
                          'points per cloud')
        if not labeled.all():
            self.selection += (
                f', ground truth on {int(labeled.sum())} of '
                f'{self.num_samples} scenes '
                f'(labeled_fraction={self.labeled_fraction:g})')
        return [
            dict(
                sample_name=f'{self.split}_{i:06d}',
                scene_idx=i,
                labeled=bool(labeled[i])) for i in range(self.num_samples)
        ]

    def labeled_mask(self) -> np.ndarray:
        """Which samples keep their ground truth (see ``labeled_fraction``).

        Returns:
            np.ndarray: ``(len(self),)`` bool.
        """
        return np.array(
            [self.get_data_info(i)['labeled'] for i in range(len(self))],
            dtype=bool)

    def generate(self, idx: int) -> Dict[str, np.ndarray]:
        """Generate the clouds and labels of scene ``idx``.

        Args:
            idx (int): Scene index.

        Returns:
            dict: ``pc1``, ``pc2``, ``flow``, ``ego_flow`` (float32
            ``(N, 3)`` arrays) and ``pc1_label`` (int32 ``(N,)``).
        """
        rng = np.random.default_rng(
            [self.seed, SPLIT_STREAMS[self.split],
             int(idx)])
        scene = generate_synthetic_scene(
            rng,
            num_points=self.num_points,
            max_depth=self.max_depth,
            noise_std=self.noise_std,
            num_objects=self.num_objects,
            with_labels=True,
            **self.scene_cfg)
        name = f'{type(self).__name__}[{self.split}][{idx}]'
        for key in ('pc1', 'pc2', 'flow', 'ego_flow'):
            scene[key] = validate_cloud(scene[key], f'{name}.{key}')
        return scene

    def prepare_data(self, idx: int) -> dict:
        """Generate sample ``idx`` and run the pipeline on it.

        A hidden scene (see ``labeled_fraction``) enters the pipeline
        without ``flow``, ``pc1_label`` and ``ego_flow``.

        Args:
            idx (int): Sample index.

        Returns:
            dict: The pipeline's output.
        """
        info = self.get_data_info(idx)
        scene = self.generate(info['scene_idx'])
        if not info['labeled']:
            for key in ('flow', 'pc1_label', 'ego_flow'):
                del scene[key]
        info.update(scene)
        info['corresponding'] = False
        return self.pipeline(info)
