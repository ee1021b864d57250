"""Threeway EPE of the Argoverse 2 scene flow challenge.

Each point of ``pc1`` falls in one of three classes by its label and its
motion, and the EPE (``||pred - gt||``, m) is averaged per class:

- ``EPE_FD``: foreground dynamic, points on an object (label >= 0) that
  move on their own.
- ``EPE_FS``: foreground static, points on an object that do not.
- ``EPE_BS``: background static, the other points (label -1) that do not.
- ``ThreewayEPE``: the mean of the three.

A point is *dynamic* when its ego-motion-compensated flow
``gt - ego_flow`` moves at ``dynamic_speed`` (0.5 m/s) or faster:
``||gt - ego_flow|| >= dynamic_speed * frame_interval`` (0.05 m per frame
for the challenge's 10 Hz sweeps, the ``>=`` of its
``SCENE_FLOW_DYNAMIC_THRESHOLD``). Background points that are dynamic
belong to none of the three classes and are left out, as in the challenge.

Over a dataset each class's EPE is the mean over all its points of all
samples (the challenge weighs each sample's class mean by its point count,
which is the same), and ``ThreewayEPE`` is the mean of the three class
EPEs. A class without any point in the dataset has no EPE; the challenge
then reports NaN for the three-way mean, bpfn leaves both out (see
:func:`threeway_epe_from_sums`). The challenge's further split by distance
(within 35 m or not) is not applied: the bpfn datasets are cut at 35 m
depth.
"""
from typing import Dict, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

#: The three classes, in report order: key suffix and long name.
THREEWAY_CLASSES = (('FD', 'foreground dynamic'), ('FS', 'foreground static'),
                    ('BS', 'background static'))
#: The keys of :func:`threeway_epe_from_sums`.
THREEWAY_NAMES = ('EPE_FD', 'EPE_FS', 'EPE_BS', 'ThreewayEPE')
#: Speed (m/s) from which a point is dynamic, as in the Argoverse 2 challenge.
DYNAMIC_SPEED = 0.5

#: Per-class ``(sum of EPE, number of points)``.
ThreewaySums = Dict[str, Tuple[float, int]]


def _numpy(value: ArrayLike, dtype) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def threeway_classes(gt_flow: ArrayLike,
                     pc1_label: ArrayLike,
                     ego_flow: ArrayLike,
                     frame_interval: float,
                     dynamic_speed: float = DYNAMIC_SPEED) -> np.ndarray:
    """The Threeway class of every point.

    Args:
        gt_flow (np.ndarray | torch.Tensor): ``(N, 3)`` ground truth.
        pc1_label (np.ndarray | torch.Tensor): ``(N,)`` int, -1 background,
            else the object the point lies on.
        ego_flow (np.ndarray | torch.Tensor): ``(N, 3)`` flow of the
            sensor's motion alone.
        frame_interval (float): Seconds between the two clouds.
        dynamic_speed (float): Speed (m/s) from which a point is dynamic.
            Defaults to 0.5.

    Returns:
        np.ndarray: ``(N,)`` int8: 0 foreground dynamic, 1 foreground
        static, 2 background static, -1 background dynamic (left out).
    """
    gt = _numpy(gt_flow, np.float64)
    ego = _numpy(ego_flow, np.float64)
    label = _numpy(pc1_label, np.int64)
    if gt.ndim != 2 or gt.shape[1] != 3 or ego.shape != gt.shape \
            or label.shape != gt.shape[:1]:
        raise ValueError(
            f'threeway_classes: expected gt_flow and ego_flow (N, 3) and '
            f'pc1_label (N,), got {gt.shape}, {ego.shape} and {label.shape}')
    if not frame_interval > 0:
        raise ValueError('threeway_classes: frame_interval must be a '
                         f'positive number of seconds, got {frame_interval}')
    dynamic = (np.linalg.norm(gt - ego, axis=1) >=
               dynamic_speed * float(frame_interval))
    foreground = label >= 0
    classes = np.full(label.shape, -1, dtype=np.int8)
    classes[foreground & dynamic] = 0
    classes[foreground & ~dynamic] = 1
    classes[~foreground & ~dynamic] = 2
    return classes


def threeway_epe_sums(pred_flow: ArrayLike,
                      gt_flow: ArrayLike,
                      pc1_label: ArrayLike,
                      ego_flow: ArrayLike,
                      frame_interval: float,
                      dynamic_speed: float = DYNAMIC_SPEED) -> ThreewaySums:
    """Per-class EPE sums and point counts of one sample.

    The EPE is computed in float32 as the other 3D metrics, summed in
    float64.

    Args:
        pred_flow (np.ndarray | torch.Tensor): ``(N, 3)`` prediction.
        gt_flow, pc1_label, ego_flow, frame_interval, dynamic_speed: See
            :func:`threeway_classes`.

    Returns:
        dict[str, tuple[float, int]]: ``'FD'``, ``'FS'``, ``'BS'`` to
        ``(sum of EPE, number of points)``.
    """
    pred = _numpy(pred_flow, np.float32)
    gt = _numpy(gt_flow, np.float32)
    if pred.shape != gt.shape:
        raise ValueError(f'pred_flow {pred.shape} and gt_flow {gt.shape} '
                         'differ in shape')
    classes = threeway_classes(gt, pc1_label, ego_flow, frame_interval,
                               dynamic_speed)
    err = np.linalg.norm(gt - pred, axis=1).astype(np.float64)
    return {
        name: (float(err[classes == c].sum()), int((classes == c).sum()))
        for c, (name, _) in enumerate(THREEWAY_CLASSES)
    }


def threeway_epe_from_sums(sums: ThreewaySums) -> Dict[str, float]:
    """Class EPEs and their mean from pooled sums.

    Args:
        sums (dict[str, tuple[float, int]]): Per-class ``(sum, count)``,
            e.g. added over the samples of a dataset.

    Returns:
        dict[str, float]: ``EPE_FD``, ``EPE_FS``, ``EPE_BS`` for the classes
        with at least one point, and ``ThreewayEPE`` (their mean) only when
        all three have points; a class without points is left out rather
        than counted as 0.
    """
    out = {}
    for name, _ in THREEWAY_CLASSES:
        total, count = sums[name]
        if count > 0:
            out[f'EPE_{name}'] = float(total / count)
    if len(out) == len(THREEWAY_CLASSES):
        out['ThreewayEPE'] = float(np.mean(list(out.values())))
    return out


def threeway_epe(pred_flow: ArrayLike,
                 gt_flow: ArrayLike,
                 pc1_label: ArrayLike,
                 ego_flow: ArrayLike,
                 frame_interval: float,
                 dynamic_speed: float = DYNAMIC_SPEED) -> Dict[str, float]:
    """Threeway EPE of one sample.

    Args:
        pred_flow, gt_flow, pc1_label, ego_flow, frame_interval,
            dynamic_speed: See :func:`threeway_epe_sums`.

    Returns:
        dict[str, float]: See :func:`threeway_epe_from_sums`.
    """
    return threeway_epe_from_sums(
        threeway_epe_sums(pred_flow, gt_flow, pc1_label, ego_flow,
                          frame_interval, dynamic_speed))
