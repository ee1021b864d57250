"""Plain matplotlib drawings of scene flow (no runner needed).

Coordinates follow the camera convention of the datasets: ``x`` right,
``y`` up, ``z`` forward (depth). The bird's-eye view is the x-z plane; the
camera view is a pinhole projection ``(x / z, y / z)``.

A picture has one row of three panels per flow:

1. Bird's-eye view of ``pc1`` coloured by the flow's direction in the x-z
   plane (hue, read on the colour wheel in the corner) and its length
   (brightness, full at ``max_flow``), over ``pc2`` in grey, with arrows on
   an even spatial subsample of ``pc1``.
2. Camera view of ``pc2`` and ``pc1 + flow``: where the flow lands.
3. Bird's-eye view of ``pc1`` coloured by the end-point error on a fixed
   scale from 0 to ``max_error`` metres (errors above it in the top colour),
   or by the flow length when there is no ground truth.

Everything that decides how a value looks (error and flow colour scales,
view limits, point size, arrow scale and arrow points) is computed once per
scene by :func:`flow_scales`, from the clouds and the ground truth when
there is one, so two pictures of one scene (teacher and student, two
checkpoints) are drawn alike and can be compared panel by panel.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]
Limits = Tuple[Tuple[float, float], Tuple[float, float]]

#: Colours of the clouds in the camera view.
COLOR_PC2 = '#2ca02c'
COLOR_WARPED = '#d62728'
#: Colour of pc2 under the bird's-eye flow panel.
COLOR_BACKGROUND = '#c8c8c8'
#: Default top of the error colour scale (m): the Outliers3D threshold.
DEFAULT_MAX_ERROR = 0.3
#: Colour map of the end-point error and of the flow length.
ERROR_CMAP = 'turbo'
MAGNITUDE_CMAP = 'viridis'
#: Brightness of a flow of length 0 in the direction colouring (1 at
#: ``max_flow`` and above).
MIN_BRIGHTNESS = 0.35
#: Figure width and height of a row (inches).
FIG_WIDTH = 15.0
ROW_HEIGHT = 4.6
#: Size of a panel's plot area (points, 1/72 inch): a third of the width
#: and the row height less the room of titles, labels and colour bars.
PANEL_PT = (FIG_WIDTH / 3 * 0.78 * 72, ROW_HEIGHT * 0.8 * 72)


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


def subsample_indices(num_points: int,
                      max_points: Optional[int]) -> np.ndarray:
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


def error_colors(errors: np.ndarray,
                 max_error: float = DEFAULT_MAX_ERROR) -> np.ndarray:
    """Colours of end-point errors on the fixed scale ``[0, max_error]``.

    The colour of an error depends on the error and ``max_error`` only,
    never on the other errors of the picture; errors above ``max_error``
    get the top colour.

    Args:
        errors (np.ndarray): End-point errors (N,), metres.
        max_error (float): Top of the scale (m). Defaults to 0.3, the
            Outliers3D threshold.

    Returns:
        np.ndarray: RGBA colours (N, 4) in [0, 1].
    """
    from matplotlib import colormaps
    if not max_error > 0:
        raise ValueError(f'max_error must be > 0 (metres), got {max_error}')
    cmap = colormaps[ERROR_CMAP]
    return cmap(np.clip(np.asarray(errors, np.float64) / max_error, 0., 1.))


def direction_colors(flow: np.ndarray, max_flow: float) -> np.ndarray:
    """Colours of flows by their direction and length in the x-z plane.

    Hue is the angle of ``(dx, dz)`` (``atan2(dz, dx)``: +x red, +z
    yellow-green, -x cyan, -z violet, as on :func:`direction_wheel`);
    brightness grows linearly from 0.35 at length 0 to 1 at ``max_flow``
    and above.

    Args:
        flow (np.ndarray): Flows (N, 3).
        max_flow (float): Length (m) of full brightness.

    Returns:
        np.ndarray: RGB colours (N, 3) in [0, 1].
    """
    from matplotlib.colors import hsv_to_rgb
    dx, dz = flow[:, 0].astype(np.float64), flow[:, 2].astype(np.float64)
    hue = np.mod(np.arctan2(dz, dx) / (2 * np.pi), 1.0)
    length = np.clip(np.hypot(dx, dz) / max(max_flow, 1e-9), 0., 1.)
    value = MIN_BRIGHTNESS + (1 - MIN_BRIGHTNESS) * length
    return hsv_to_rgb(np.stack([hue, np.ones_like(hue), value], axis=1))


def direction_wheel(size: int = 64) -> np.ndarray:
    """The legend of :func:`direction_colors`: an RGBA disc (size, size, 4).

    Drawn with x to the right and z up (the bird's-eye view's axes, image
    row 0 at the top); the rim is a flow of ``max_flow``, the centre 0.
    """
    coords = (np.arange(size) + 0.5) / size * 2 - 1
    dx, dz = np.meshgrid(coords, -coords)
    flow = np.stack([dx, np.zeros_like(dx), dz], axis=-1).reshape(-1, 3)
    rgb = direction_colors(flow, 1.0).reshape(size, size, 3)
    alpha = (np.hypot(dx, dz) <= 1.0).astype(np.float64)[..., None]
    return np.concatenate([rgb, alpha], axis=-1)


def robust_limits(xy: np.ndarray,
                  low: float = 0.5,
                  high: float = 99.5,
                  pad: float = 0.05) -> Limits:
    """Axis limits holding the ``[low, high]`` percentiles of ``xy``, padded.

    Args:
        xy (np.ndarray): 2-D coordinates (N, 2).
        low (float): Lower percentile. Defaults to 0.5.
        high (float): Upper percentile. Defaults to 99.5.
        pad (float): Margin as a fraction of the range. Defaults to 0.05.

    Returns:
        tuple: ``((x_min, x_max), (y_min, y_max))``.
    """
    if len(xy) == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = np.percentile(xy, [low, high], axis=0)
    margin = pad * np.maximum(hi - lo, 1e-3)
    lo, hi = lo - margin, hi + margin
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _inside(xy: np.ndarray, limits: Limits) -> np.ndarray:
    (x0, x1), (y0, y1) = limits
    return ((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) &
            (xy[:, 1] <= y1))


def _cells(xy: np.ndarray, limits: Limits, grid: int) -> np.ndarray:
    """Cell number of each point of ``xy`` on a ``grid x grid`` raster."""
    (x0, x1), (y0, y1) = limits
    col = np.clip(((xy[:, 0] - x0) / (x1 - x0) * grid).astype(np.int64), 0,
                  grid - 1)
    row = np.clip(((xy[:, 1] - y0) / (y1 - y0) * grid).astype(np.int64), 0,
                  grid - 1)
    return row * grid + col


def marker_size(xy: np.ndarray,
                limits: Limits,
                panel_area: float = PANEL_PT[0] * PANEL_PT[1],
                fill: float = 0.8,
                grid: int = 48,
                bounds: Tuple[float, float] = (0.8, 30.0)) -> float:
    """Scatter marker area (points^2) so that a cloud looks filled.

    The panel's area is shared among the points drawn, counting only the
    part of the panel the cloud occupies (cells of a ``grid x grid`` raster
    over ``limits`` holding a point): more points or a smaller extent give
    smaller markers.

    Args:
        xy (np.ndarray): 2-D coordinates of the drawn points (N, 2).
        limits (tuple): Axis limits of the panel.
        panel_area (float): Panel area in points^2.
        fill (float): Fraction of the occupied area the markers cover.
            Defaults to 0.8.
        grid (int): Raster resolution. Defaults to 48.
        bounds (tuple[float, float]): Smallest and largest area.
            Defaults to (0.8, 30.0).

    Returns:
        float: Marker area for ``scatter(s=...)``.
    """
    inside = xy[_inside(xy, limits)]
    if len(inside) == 0:
        return bounds[1]
    occupied = len(np.unique(_cells(inside, limits, grid))) / grid**2
    size = fill * occupied * panel_area / len(inside)
    return float(np.clip(size, *bounds))


def arrow_points(xy: np.ndarray, limits: Limits, grid: int = 20) -> np.ndarray:
    """Indices of one point per occupied cell of a raster: an even spread.

    Args:
        xy (np.ndarray): 2-D coordinates (N, 2).
        limits (tuple): Axis limits; points outside get no arrow.
        grid (int): Cells along each axis. Defaults to 20.

    Returns:
        np.ndarray: Sorted int64 indices into ``xy`` (the first point of
        each cell).
    """
    candidates = np.flatnonzero(_inside(xy, limits))
    if len(candidates) == 0:
        return candidates.astype(np.int64)
    _, first = np.unique(_cells(xy[candidates], limits, grid),
                         return_index=True)
    return np.sort(candidates[first]).astype(np.int64)


def _nice_scale(value: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``value``."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    exponent = np.floor(np.log10(value))
    for step in (5.0, 2.0, 1.0):
        if step * 10**exponent <= value:
            return float(step * 10**exponent)
    return float(10**exponent)


@dataclass
class FlowScales:
    """What must be equal between two pictures of a scene to compare them.

    Made by :func:`flow_scales`.

    Attributes:
        max_error (float): Top of the end-point error scale (m).
        max_flow (float): Flow length (m) of full brightness in the direction
            colouring and top of the flow length scale.
        sel1 (np.ndarray): Indices of the drawn points of pc1.
        sel2 (np.ndarray): Indices of the drawn points of pc2.
        bev_limits (tuple): Bird's-eye view limits (x, z).
        cam_limits (tuple): Camera view limits (x / z, y / z).
        bev_size (float): Marker area of the bird's-eye panels.
        cam_size (float): Marker area of the camera panel.
        arrows (np.ndarray): Indices into ``sel1`` of the points with an
            arrow.
        arrow_scale (float): Arrow length per metre of flow (arrows are
            drawn ``arrow_scale`` times their length).
    """
    max_error: float
    max_flow: float
    sel1: np.ndarray
    sel2: np.ndarray
    bev_limits: Limits
    cam_limits: Limits
    bev_size: float
    cam_size: float
    arrows: np.ndarray
    arrow_scale: float


def flow_scales(pc1: np.ndarray,
                pc2: np.ndarray,
                ref_flow: np.ndarray,
                max_error: float = DEFAULT_MAX_ERROR,
                max_flow: Optional[float] = None,
                max_points: Optional[int] = 4096) -> FlowScales:
    """Scales and views of a scene, shared by all its pictures.

    Args:
        pc1 (np.ndarray): First cloud (N, 3).
        pc2 (np.ndarray): Second cloud (M, 3).
        ref_flow (np.ndarray): The flow that sets ``max_flow`` and the arrow
            scale (the ground truth when known, so that every prediction of
            the scene is drawn alike), (N, 3).
        max_error (float): Top of the error scale (m). Defaults to 0.3.
        max_flow (float, optional): Flow length of full brightness (m);
            defaults to the 95th percentile of ``ref_flow``'s length in the
            x-z plane.
        max_points (int, optional): Points drawn per cloud.

    Returns:
        FlowScales: The scales.
    """
    if not max_error > 0:
        raise ValueError(f'max_error must be > 0 (metres), got {max_error}')
    sel1 = subsample_indices(len(pc1), max_points)
    sel2 = subsample_indices(len(pc2), max_points)
    p1, p2 = pc1[sel1], pc2[sel2]
    if max_flow is None:
        lengths = np.hypot(ref_flow[sel1, 0], ref_flow[sel1, 2])
        max_flow = float(np.percentile(lengths, 95)) if len(lengths) else 1.
    if not max_flow > 0:
        max_flow = 1e-3
    bev_limits = robust_limits(np.concatenate([p1, p2])[:, [0, 2]])
    uv1, _ = project_to_camera(p1)
    cam_limits = robust_limits(uv1, 1, 99)
    bev1 = p1[:, [0, 2]]
    arrows = arrow_points(bev1, bev_limits)
    cell = min(bev_limits[0][1] - bev_limits[0][0],
               bev_limits[1][1] - bev_limits[1][0]) / 20
    return FlowScales(
        max_error=float(max_error),
        max_flow=float(max_flow),
        sel1=sel1,
        sel2=sel2,
        bev_limits=bev_limits,
        cam_limits=cam_limits,
        bev_size=marker_size(bev1, bev_limits),
        cam_size=marker_size(uv1, cam_limits),
        arrows=arrows,
        arrow_scale=_nice_scale(1.2 * cell / max_flow))


def _set_limits(ax, limits: Limits, equal: bool) -> None:
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    if equal:
        ax.set_aspect('equal', adjustable='box')


def _check_flow(flow: ArrayLike, pc1: np.ndarray, name: str) -> np.ndarray:
    flow = to_numpy_points(flow, name)
    if flow.shape != pc1.shape:
        raise ValueError(f'{name} {flow.shape} and pc1 {pc1.shape} differ in '
                         'shape')
    return flow


def draw_flow_row(fig,
                  axes: Sequence,
                  pc1: np.ndarray,
                  pc2: np.ndarray,
                  flow: np.ndarray,
                  scales: FlowScales,
                  gt_flow: Optional[np.ndarray] = None,
                  label: Optional[str] = None) -> None:
    """Draw the three panels of one flow into ``axes``.

    Args:
        fig (matplotlib.figure.Figure): The figure (for the colour bar).
        axes (Sequence[Axes]): Three axes.
        pc1 (np.ndarray): First cloud (N, 3).
        pc2 (np.ndarray): Second cloud (M, 3).
        flow (np.ndarray): Flow of ``pc1`` to draw (N, 3).
        scales (FlowScales): From :func:`flow_scales`.
        gt_flow (np.ndarray, optional): Ground truth (N, 3): the third panel
            shows the end-point error; without it, the flow length.
        label (str, optional): Prefix of the panel titles (the model).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    prefix = f'{label}: ' if label else ''
    sel1, sel2 = scales.sel1, scales.sel2
    p1, p2, f1 = pc1[sel1], pc2[sel2], flow[sel1]
    warped = p1 + f1

    # 1. Bird's-eye view: direction colouring and arrows.
    ax = axes[0]
    ax.scatter(p2[:, 0], p2[:, 2], s=scales.bev_size, c=COLOR_BACKGROUND,
               linewidths=0, label='pc2')
    ax.scatter(p1[:, 0], p1[:, 2], s=scales.bev_size,
               c=direction_colors(f1, scales.max_flow), linewidths=0,
               label='pc1 by flow direction')
    a = scales.arrows
    if len(a):
        ax.quiver(p1[a, 0], p1[a, 2], f1[a, 0] * scales.arrow_scale,
                  f1[a, 2] * scales.arrow_scale, angles='xy',
                  scale_units='xy', scale=1, width=0.0035, headwidth=3.5,
                  headlength=4, color='black', alpha=0.8)
    _set_limits(ax, scales.bev_limits, equal=True)
    ax.set(title=f"{prefix}bird's-eye view, flow (arrows "
           f'x{scales.arrow_scale:g})', xlabel='x (m)', ylabel='z (m)')
    wheel = ax.inset_axes([0.01, 0.01, 0.16, 0.16])
    wheel.imshow(direction_wheel(), extent=(-1, 1, -1, 1))
    wheel.text(0.0, 1.1, f'{scales.max_flow:.2g} m', ha='center',
               va='bottom', fontsize=7)
    wheel.set_axis_off()

    # 2. Camera view: where pc1 + flow lands on pc2.
    ax = axes[1]
    for pts, color, name in ((p2, COLOR_PC2, 'pc2'),
                             (warped, COLOR_WARPED, 'pc1 + flow')):
        uv, _ = project_to_camera(pts)
        ax.scatter(uv[:, 0], uv[:, 1], s=scales.cam_size, c=color,
                   linewidths=0, alpha=0.7, label=name)
    _set_limits(ax, scales.cam_limits, equal=False)
    ax.set(title=f'{prefix}camera view', xlabel='x / z',
           ylabel='y / z')
    ax.legend(loc='upper right', markerscale=3, fontsize=8)

    # 3. Error (fixed scale) or flow length.
    ax = axes[2]
    if gt_flow is not None:
        errors = end_point_error(flow, gt_flow)
        values = errors[sel1]
        colors = error_colors(values, scales.max_error)
        mappable = ScalarMappable(Normalize(0.0, scales.max_error),
                                  colormaps[ERROR_CMAP])
        bar_label = 'end-point error (m)'
        title = f'{prefix}end-point error, EPE3D {errors.mean():.4f} m'
    else:
        values = np.linalg.norm(f1, axis=1)
        norm = Normalize(0.0, scales.max_flow)
        mappable = ScalarMappable(norm, colormaps[MAGNITUDE_CMAP])
        colors = mappable.to_rgba(values)
        bar_label = 'flow length (m)'
        title = (f'{prefix}flow length, mean '
                 f'{np.linalg.norm(flow, axis=1).mean():.3f} m')
    order = np.argsort(values, kind='stable')  # large values drawn on top
    ax.scatter(p1[order, 0], p1[order, 2], s=scales.bev_size,
               c=colors[order], linewidths=0)
    _set_limits(ax, scales.bev_limits, equal=True)
    ax.set(title=title, xlabel='x (m)', ylabel='z (m)')
    fig.colorbar(mappable, ax=ax, label=bar_label, fraction=0.046,
                 extend='max')


def draw_flow_figure(pc1: ArrayLike,
                     pc2: ArrayLike,
                     flow: ArrayLike,
                     gt_flow: Optional[ArrayLike] = None,
                     title: Optional[str] = None,
                     max_points: Optional[int] = 4096,
                     max_error: float = DEFAULT_MAX_ERROR,
                     max_flow: Optional[float] = None,
                     dpi: int = 80):
    """Draw a scene flow sample in three panels (see the module docstring).

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
        max_error (float): Top of the fixed error colour scale (m).
            Defaults to 0.3.
        max_flow (float, optional): Flow length of full brightness (m);
            defaults to the 95th percentile of the ground truth's length
            (of ``flow``'s without ground truth) in the x-z plane.
        dpi (int): Figure resolution. Defaults to 80: a picture of
            1200 x 368 pixels.

    Returns:
        matplotlib.figure.Figure: The figure (close it after use).
    """
    return draw_flow_comparison(pc1, pc2, [(None, flow)], gt_flow, title,
                                max_points, max_error, max_flow,
                                gt_row=False, dpi=dpi)


def draw_flow_comparison(pc1: ArrayLike,
                         pc2: ArrayLike,
                         flows: Sequence[Tuple[Optional[str], ArrayLike]],
                         gt_flow: Optional[ArrayLike] = None,
                         title: Optional[str] = None,
                         max_points: Optional[int] = 4096,
                         max_error: float = DEFAULT_MAX_ERROR,
                         max_flow: Optional[float] = None,
                         gt_row: bool = True,
                         dpi: int = 80):
    """Draw several flows of one scene, one row each, with equal scales.

    Every row has the same views, point size, arrow scale and colour scales
    (:func:`flow_scales` of the scene), so the rows compare panel by panel.

    Args:
        pc1 (Tensor | ndarray): First cloud, (N, 3).
        pc2 (Tensor | ndarray): Second cloud, (M, 3).
        flows (Sequence[tuple[str | None, Tensor | ndarray]]): Row label
            (e.g. the model) and flow (N, 3) of each row.
        gt_flow (Tensor | ndarray, optional): Ground truth (N, 3); each row
            then shows its end-point error. Defaults to None.
        title (str, optional): Figure title (e.g. the scene).
        max_points (int, optional): Points drawn per cloud. Defaults to 4096.
        max_error (float): Top of the error colour scale (m). Defaults to
            0.3.
        max_flow (float, optional): As :func:`draw_flow_figure`.
        gt_row (bool): Draw the ground truth as a first row (when given).
            Defaults to True.
        dpi (int): Figure resolution. Defaults to 80 (1200 pixels wide,
            368 per row).

    Returns:
        matplotlib.figure.Figure: The figure (close it after use).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    pc1 = to_numpy_points(pc1, 'pc1')
    pc2 = to_numpy_points(pc2, 'pc2')
    if not flows:
        raise ValueError('draw_flow_comparison needs at least one flow')
    rows = [(label, _check_flow(flow, pc1, 'flow')) for label, flow in flows]
    if gt_flow is not None:
        gt_flow = _check_flow(gt_flow, pc1, 'gt_flow')
        if gt_row:
            rows.insert(0, ('ground truth', gt_flow))
    ref = gt_flow if gt_flow is not None else rows[0][1]
    scales = flow_scales(pc1, pc2, ref, max_error, max_flow, max_points)

    fig, axes = plt.subplots(len(rows), 3,
                             figsize=(FIG_WIDTH, ROW_HEIGHT * len(rows)),
                             dpi=dpi, squeeze=False, layout='constrained')
    for i, (label, flow) in enumerate(rows):
        is_gt = gt_row and gt_flow is not None and i == 0
        draw_flow_row(fig, axes[i], pc1, pc2, flow, scales,
                      None if is_gt else gt_flow, label)
    if title:
        fig.suptitle(title)
    return fig


def figure_to_rgb(fig) -> np.ndarray:
    """Render a figure to an RGB uint8 array (H, W, 3)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_figure(fig, path: str, colors: Optional[int] = 256) -> None:
    """Save a figure as PNG through a temp file and a rename.

    The picture is stored with a palette of ``colors`` colours (no
    dithering), which keeps the file about three times smaller than full
    colour: the drawings hold flat colours only, so the palette loses
    nothing visible.

    Args:
        fig (matplotlib.figure.Figure): The figure.
        path (str): Output file; its folder is created.
        colors (int, optional): Palette size (2-256); None stores full
            RGB. Defaults to 256.
    """
    from PIL import Image

    from bpfn.utils.fileio import atomic_open
    image = Image.fromarray(figure_to_rgb(fig))
    if colors is not None:
        image = image.quantize(colors=colors,
                               method=Image.Quantize.FASTOCTREE,
                               dither=Image.Dither.NONE)
    with atomic_open(path, 'wb') as f:
        image.save(f, format='png', optimize=True,
                   dpi=(fig.dpi, fig.dpi))


def save_flow_png(path: str,
                  pc1: ArrayLike,
                  pc2: ArrayLike,
                  flow: ArrayLike,
                  gt_flow: Optional[ArrayLike] = None,
                  title: Optional[str] = None,
                  max_points: Optional[int] = 4096,
                  max_error: float = DEFAULT_MAX_ERROR,
                  max_flow: Optional[float] = None) -> str:
    """Draw :func:`draw_flow_figure` and write it as a PNG (atomically).

    Args:
        path (str): Output PNG.
        pc1, pc2, flow, gt_flow, title, max_points, max_error, max_flow: As
            :func:`draw_flow_figure`.

    Returns:
        str: ``path``.
    """
    import matplotlib.pyplot as plt
    fig = draw_flow_figure(pc1, pc2, flow, gt_flow, title, max_points,
                           max_error, max_flow)
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path
