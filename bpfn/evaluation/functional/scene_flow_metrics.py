"""Scene flow metrics of HPLFlowNet, used by FlowNet3D-style papers.

3D (per point, ``err = ||pred - gt||``, ``rel = err / (||gt|| + 1e-4)``):

- EPE3D: mean ``err`` (m).
- ACC3DS: share of points with ``err < 0.05`` or ``rel < 0.05``.
- ACC3DR: share of points with ``err < 0.1`` or ``rel < 0.1``.
- Outliers3D: share of points with ``err > 0.3`` or ``rel > 0.1``.

2D: ``pc1``, ``pc1 + gt`` and ``pc1 + pred`` are projected to the image;
the optical flows ``uv(pc1 + gt) - uv(pc1)`` and ``uv(pc1 + pred) - uv(pc1)``
give ``err2d`` and ``rel2d = err2d / (||flow2d_gt|| + 1e-5)``:

- EPE2D: mean ``err2d`` (px).
- ACC2D: share of points with ``err2d < 3`` or ``rel2d < 0.05``.

Projection (``u = (x f + cx z + cx') / (z + cz')``,
``v = (y f + cy z + cy') / (z + cz')``): the FlyingThings3D camera has
``f = -1050``, ``cx = 479.5``, ``cy = 269.5`` and no offsets; a KITTI camera
``{'P_rect_02': P}`` has ``f = -P[0][0]`` (the processed clouds have x and y
negated), ``cx = P[0][2]``, ``cy = P[1][2]``, ``cx' = P[0][3]``,
``cy' = P[1][3]``, ``cz' = P[2][3]``.

All maths is in float32, as the original evaluation. Batched inputs are
evaluated per sample and the per-sample values averaged over the batch
(equal to the original's average over all points of a batch when every
sample has the same number of points).
"""
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]
Camera = Union[str, dict]

METRIC_NAMES = ('EPE3D', 'ACC3DS', 'ACC3DR', 'Outliers3D', 'EPE2D', 'ACC2D')

#: FlyingThings3D camera: focal length (negative: x is mirrored), principal
#: point.
FT3D_FOCAL = -1050.0
FT3D_CX = 479.5
FT3D_CY = 269.5


def _as_float32(value: ArrayLike, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=np.float32)
    if array.ndim not in (2, 3) or array.shape[-1] != 3:
        raise ValueError(f'{name}: expected shape (N, 3) or (B, N, 3), got '
                         f'{tuple(array.shape)}')
    return array


def camera_parameters(camera: Camera) -> Tuple[float, ...]:
    """Projection parameters of a camera description.

    Args:
        camera (str | dict): ``'ft3d'`` or ``{'P_rect_02': 3x4 matrix}``.

    Returns:
        tuple[float, ...]: ``(f, cx, cy, constx, consty, constz)``.
    """
    if isinstance(camera, str):
        if camera.lower() != 'ft3d':
            raise ValueError(f"unknown camera {camera!r}; expected 'ft3d' or "
                             "a dict with 'P_rect_02'")
        return (FT3D_FOCAL, FT3D_CX, FT3D_CY, 0.0, 0.0, 0.0)
    if isinstance(camera, dict) and 'P_rect_02' in camera:
        p = np.asarray(camera['P_rect_02'], dtype=np.float32)
        if p.shape != (3, 4):
            raise ValueError('camera P_rect_02: expected a 3x4 matrix, got '
                             f'shape {p.shape}')
        return (-p[0, 0], p[0, 2], p[1, 2], p[0, 3], p[1, 3], p[2, 3])
    raise ValueError(f"unknown camera {camera!r}; expected 'ft3d' or a dict "
                     "with 'P_rect_02'")


def project_to_image(points: ArrayLike, camera: Camera = 'ft3d') -> np.ndarray:
    """Project points to pixel coordinates.

    Args:
        points (np.ndarray | torch.Tensor): ``(N, 3)`` points.
        camera (str | dict): See :func:`camera_parameters`.
            Defaults to 'ft3d'.

    Returns:
        np.ndarray: ``(N, 2)`` float32 pixel coordinates ``(u, v)``.
    """
    pts = _as_float32(points, 'points')
    f, cx, cy, constx, consty, constz = (
        np.float32(v) for v in camera_parameters(camera))
    x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]
    u = (x * f + cx * z + constx) / (z + constz)
    v = (y * f + cy * z + consty) / (z + constz)
    return np.stack([u, v], axis=-1)


def optical_flow_2d(pc1: ArrayLike,
                    pred_flow: ArrayLike,
                    gt_flow: ArrayLike,
                    camera: Camera = 'ft3d') -> Tuple[np.ndarray, np.ndarray]:
    """Optical flows induced by predicted and ground-truth scene flow.

    Args:
        pc1 (np.ndarray | torch.Tensor): ``(N, 3)`` first cloud.
        pred_flow (np.ndarray | torch.Tensor): ``(N, 3)`` prediction.
        gt_flow (np.ndarray | torch.Tensor): ``(N, 3)`` ground truth.
        camera (str | dict): See :func:`camera_parameters`.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(flow2d_pred, flow2d_gt)``, each
        ``(N, 2)`` in pixels.
    """
    p1 = _as_float32(pc1, 'pc1')
    uv1 = project_to_image(p1, camera)
    uv_pred = project_to_image(p1 + _as_float32(pred_flow, 'pred_flow'),
                               camera)
    uv_gt = project_to_image(p1 + _as_float32(gt_flow, 'gt_flow'), camera)
    return uv_pred - uv1, uv_gt - uv1


def scene_flow_metrics_3d(pred_flow: ArrayLike,
                          gt_flow: ArrayLike) -> Dict[str, float]:
    """EPE3D, ACC3DS, ACC3DR and Outliers3D of one sample.

    Args:
        pred_flow (np.ndarray | torch.Tensor): ``(N, 3)`` prediction.
        gt_flow (np.ndarray | torch.Tensor): ``(N, 3)`` ground truth.

    Returns:
        dict[str, float]: The four metrics, averaged over the points.
    """
    pred = _as_float32(pred_flow, 'pred_flow')
    gt = _as_float32(gt_flow, 'gt_flow')
    if pred.shape != gt.shape:
        raise ValueError(f'pred_flow {pred.shape} and gt_flow {gt.shape} '
                         'differ in shape')
    err = np.linalg.norm(gt - pred, axis=-1)
    rel = err / (np.linalg.norm(gt, axis=-1) + np.float32(1e-4))
    return dict(
        EPE3D=float(err.mean()),
        ACC3DS=float(np.logical_or(err < 0.05, rel < 0.05).mean()),
        ACC3DR=float(np.logical_or(err < 0.1, rel < 0.1).mean()),
        Outliers3D=float(np.logical_or(err > 0.3, rel > 0.1).mean()))


def scene_flow_metrics_2d(flow2d_pred: ArrayLike,
                          flow2d_gt: ArrayLike) -> Dict[str, float]:
    """EPE2D and ACC2D of one sample.

    Args:
        flow2d_pred (np.ndarray | torch.Tensor): ``(N, 2)`` predicted
            optical flow (px).
        flow2d_gt (np.ndarray | torch.Tensor): ``(N, 2)`` ground truth.

    Returns:
        dict[str, float]: ``EPE2D`` and ``ACC2D``.
    """
    pred = np.asarray(flow2d_pred, dtype=np.float32)
    gt = np.asarray(flow2d_gt, dtype=np.float32)
    err = np.linalg.norm(gt - pred, axis=-1)
    rel = err / (np.linalg.norm(gt, axis=-1) + np.float32(1e-5))
    return dict(
        EPE2D=float(err.mean()),
        ACC2D=float(np.logical_or(err < 3.0, rel < 0.05).mean()))


def _cameras(camera: Union[Camera, Sequence[Camera]],
             batch: int) -> List[Camera]:
    if isinstance(camera, (str, dict)):
        return [camera] * batch
    cameras = list(camera)
    if len(cameras) != batch:
        raise ValueError(f'got {len(cameras)} cameras for a batch of '
                         f'{batch} samples')
    return cameras


def scene_flow_metrics_per_sample(
    pc1: ArrayLike,
    pred_flow: ArrayLike,
    gt_flow: ArrayLike,
    camera: Union[Camera,
                  Sequence[Camera]] = 'ft3d') -> List[Dict[str, float]]:
    """All six metrics of every sample of a batch.

    Args:
        pc1 (np.ndarray | torch.Tensor): ``(B, N, 3)`` or ``(N, 3)``.
        pred_flow (np.ndarray | torch.Tensor): Same shape as ``pc1``.
        gt_flow (np.ndarray | torch.Tensor): Same shape as ``pc1``.
        camera (str | dict | Sequence): One camera for the batch or one per
            sample. Defaults to 'ft3d'.

    Returns:
        list[dict[str, float]]: One dict of the six metrics per sample.
    """
    p1 = _as_float32(pc1, 'pc1')
    pred = _as_float32(pred_flow, 'pred_flow')
    gt = _as_float32(gt_flow, 'gt_flow')
    if not p1.shape == pred.shape == gt.shape:
        raise ValueError(f'pc1 {p1.shape}, pred_flow {pred.shape} and '
                         f'gt_flow {gt.shape} must have the same shape')
    if p1.ndim == 2:
        p1, pred, gt = p1[None], pred[None], gt[None]
    results = []
    for b, cam in enumerate(_cameras(camera, p1.shape[0])):
        metrics = scene_flow_metrics_3d(pred[b], gt[b])
        metrics.update(
            scene_flow_metrics_2d(
                *optical_flow_2d(p1[b], pred[b], gt[b], cam)))
        results.append({name: metrics[name] for name in METRIC_NAMES})
    return results


def scene_flow_metrics(
        pc1: ArrayLike,
        pred_flow: ArrayLike,
        gt_flow: ArrayLike,
        camera: Union[Camera, Sequence[Camera]] = 'ft3d') -> Dict[str, float]:
    """The six scene flow metrics, averaged over points then samples.

    Args:
        pc1 (np.ndarray | torch.Tensor): ``(B, N, 3)`` or ``(N, 3)`` first
            cloud (any device).
        pred_flow (np.ndarray | torch.Tensor): Predicted flow, same shape.
        gt_flow (np.ndarray | torch.Tensor): Ground-truth flow, same shape.
        camera (str | dict | Sequence): ``'ft3d'``, ``{'P_rect_02': 3x4}``
            or one of them per sample. Defaults to 'ft3d'.

    Returns:
        dict[str, float]: EPE3D, ACC3DS, ACC3DR, Outliers3D, EPE2D, ACC2D.
    """
    per_sample = scene_flow_metrics_per_sample(pc1, pred_flow, gt_flow, camera)
    return {
        name: float(np.mean([m[name] for m in per_sample]))
        for name in METRIC_NAMES
    }
