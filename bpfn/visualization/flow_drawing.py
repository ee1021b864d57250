"""Plain matplotlib drawings of scene flow (no runner needed).

Coordinates follow the camera convention of the datasets: ``x`` right,
``y`` up, ``z`` forward (depth). The bird's-eye view is the x-z plane; the
camera view is a pinhole projection ``(x / z, y / z)``.
"""
from typing import Optional, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

#: Colours of the three clouds.
COLOR_PC1 = '#1f77b4'
COLOR_PC2 = '#2ca02c'
COLOR_WARPED = '#d62728'


def to_numpy_points(points: ArrayLike, name: str = 'points') -> np.ndarray:
    """An ``(N, 3)`` float array from a tensor (any device) or array.

    Args:
        points (Tensor | ndarray): Points or flow, shape (N, 3).
        name (str): Name used in the error message. Defaults to 'points'.

    Returns:
        np.ndarray: float32 array of shape (N, 3).
    """
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'{name} must have shape (N, 3), got '
                         f'{tuple(points.shape)}')
    return points


def subsample_indices(num_points: int, max_points: Optional[int]) -> np.ndarray:
    """Evenly spaced indices keeping at most ``max_points`` of ``num_points``.

    Args:
        num_points (int): Number of points ``N``.
        max_points (int, optional): Cap; None keeps all.

    Returns:
        np.ndarray: Sorted int64 indices.
    """
    if max_points is None or num_points <= max_points:
        return np.arange(num_points)
    return np.linspace(0, num_points - 1, max_points).astype(np.int64)


def project_to_camera(points: np.ndarray,
                      min_depth: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """Pinhole projection with unit focal length.

    Args:
        points (np.ndarray): Points (N, 3).
        min_depth (float): Points closer than this are dropped.
            Defaults to 0.1.

    Returns:
        tuple[np.ndarray, np.ndarray]: Image coordinates (M, 2) of the kept
        points and the boolean mask (N,) of the kept points.
    """
    mask = points[:, 2] > min_depth
    kept = points[mask]
    uv = kept[:, :2] / kept[:, 2:3]
    return uv, mask


def end_point_error(pred_flow: np.ndarray, gt_flow: np.ndarray) -> np.ndarray:
    """Per-point end-point error ``||pred - gt||_2``, shape (N,)."""
    return np.linalg.norm(pred_flow - gt_flow, axis=1)


def draw_flow_figure(pc1: ArrayLike,
                     pc2: ArrayLike,
                     flow: ArrayLike,
                     gt_flow: Optional[ArrayLike] = None,
                     title: Optional[str] = None,
                     max_points: Optional[int] = 4096,
                     point_size: float = 0.6,
                     dpi: int = 80):
    """Draw a scene flow sample in three panels.

    1. Bird's-eye view (x-z plane) of ``pc1``, ``pc2`` and ``pc1 + flow``.
    2. Camera view (x/z, y/z) of the same three clouds.
    3. ``pc1`` in bird's-eye view coloured by the end-point error
       ``||flow - gt_flow||`` (when ``gt_flow`` is given) or by the flow
       magnitude ``||flow||`` (otherwise), with a colour bar.

    Args:
        pc1 (Tensor | ndarray): First cloud, (N, 3).
        pc2 (Tensor | ndarray): Second cloud, (M, 3).
        flow (Tensor | ndarray): Flow of ``pc1`` to draw (predicted, or the
            ground truth when browsing a dataset), (N, 3).
        gt_flow (Tensor | ndarray, optional): Ground truth flow (N, 3) for
            the error panel. Defaults to None.
        title (str, optional): Figure title (e.g. the sample name).
        max_points (int, optional): Points drawn per cloud (evenly spaced
            subset, keeps PNGs small). Defaults to 4096.
        point_size (float): Marker size. Defaults to 0.6.
        dpi (int): Figure resolution. Defaults to 80.

    Returns:
        matplotlib.figure.Figure: The figure (close it after use).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    pc1 = to_numpy_points(pc1, 'pc1')
    pc2 = to_numpy_points(pc2, 'pc2')
    flow = to_numpy_points(flow, 'flow')
    if flow.shape != pc1.shape:
        raise ValueError(f'flow {flow.shape} and pc1 {pc1.shape} differ in '
                         'shape')
    if gt_flow is not None:
        gt_flow = to_numpy_points(gt_flow, 'gt_flow')
        if gt_flow.shape != pc1.shape:
            raise ValueError(f'gt_flow {gt_flow.shape} and pc1 {pc1.shape} '
                             'differ in shape')
        values = end_point_error(flow, gt_flow)
        value_label = 'end-point error (m)'
    else:
        values = np.linalg.norm(flow, axis=1)
        value_label = 'flow magnitude (m)'

    sel1 = subsample_indices(len(pc1), max_points)
    sel2 = subsample_indices(len(pc2), max_points)
    p1, p2, warped = pc1[sel1], pc2[sel2], (pc1 + flow)[sel1]
    clouds = ((p1, COLOR_PC1, 'pc1'), (p2, COLOR_PC2, 'pc2'),
              (warped, COLOR_WARPED, 'pc1 + flow'))

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), dpi=dpi)
    ax = axes[0]
    for pts, color, label in clouds:
        ax.scatter(pts[:, 0], pts[:, 2], s=point_size, c=color, label=label,
                   linewidths=0, rasterized=True)
    ax.set(title="bird's-eye view (x-z)", xlabel='x (m)', ylabel='z (m)')
    ax.set_aspect('equal', adjustable='datalim')
    ax.legend(loc='upper right', markerscale=8, fontsize=8)

    ax = axes[1]
    for pts, color, label in clouds:
        uv, _ = project_to_camera(pts)
        ax.scatter(uv[:, 0], uv[:, 1], s=point_size, c=color, label=label,
                   linewidths=0, rasterized=True)
    uv1, _ = project_to_camera(p1)
    if len(uv1):
        # Points next to the camera project far out: frame 98% of pc1.
        low, high = np.percentile(uv1, [1, 99], axis=0)
        pad = 0.05 * np.maximum(high - low, 1e-3)
        ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
        ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
    ax.set(title='camera view (x/z, y/z)', xlabel='x / z', ylabel='y / z')

    ax = axes[2]
    vals = values[sel1]
    order = np.argsort(vals)  # large values drawn last, on top
    vmax = float(np.percentile(vals, 99)) if vals.size else 1.0
    mappable = ax.scatter(
        p1[order, 0], p1[order, 2], s=point_size * 2, c=vals[order],
        cmap='viridis' if gt_flow is None else 'inferno_r', vmin=0.0,
        vmax=max(vmax, 1e-6), linewidths=0, rasterized=True)
    ax.set_aspect('equal', adjustable='datalim')
    summary = (f'mean EPE {values.mean():.4f} m' if gt_flow is not None
               else f'mean |flow| {values.mean():.3f} m')
    ax.set(title=f'pc1 by {value_label.split(" (")[0]} ({summary})',
           xlabel='x (m)', ylabel='z (m)')
    fig.colorbar(mappable, ax=ax, label=value_label, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def figure_to_rgb(fig) -> np.ndarray:
    """Render a figure to an RGB uint8 array (H, W, 3)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_figure(fig, path: str) -> None:
    """Save a figure as PNG through a temp file and a rename.

    Args:
        fig (matplotlib.figure.Figure): The figure.
        path (str): Output file; its folder is created.
    """
    from bpfn.utils.fileio import atomic_open
    with atomic_open(path, 'wb') as f:
        fig.savefig(f, format='png', dpi=fig.dpi)


def save_flow_png(path: str,
                  pc1: ArrayLike,
                  pc2: ArrayLike,
                  flow: ArrayLike,
                  gt_flow: Optional[ArrayLike] = None,
                  title: Optional[str] = None,
                  max_points: Optional[int] = 4096) -> str:
    """Draw :func:`draw_flow_figure` and write it as a PNG (atomically).

    Args:
        path (str): Output PNG.
        pc1, pc2, flow, gt_flow, title, max_points: As
            :func:`draw_flow_figure`.

    Returns:
        str: ``path``.
    """
    import matplotlib.pyplot as plt
    fig = draw_flow_figure(pc1, pc2, flow, gt_flow, title, max_points)
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path
