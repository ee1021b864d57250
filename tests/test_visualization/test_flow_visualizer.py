"""Tests of bpfn/visualization."""
import numpy as np
import pytest
import torch

from bpfn.registry import VISUALIZERS
from bpfn.visualization import (FlowVisualizer, direction_colors,
                                draw_flow_comparison, draw_flow_figure,
                                error_colors, figure_to_rgb, flow_scales,
                                project_to_camera, save_figure,
                                save_flow_png, subsample_indices)
from bpfn.visualization.flow_drawing import marker_size


def scene(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    pc1 = rng.uniform([-10, -2, 2], [10, 2, 30], (n, 3)).astype(np.float32)
    flow = np.tile(np.float32([0.5, 0.0, 1.0]), (n, 1))
    pc2 = pc1 + flow
    return pc1, pc2, flow


def test_helpers():
    assert list(subsample_indices(5, None)) == [0, 1, 2, 3, 4]
    idx = subsample_indices(100, 10)
    assert len(idx) == 10 and idx[0] == 0 and idx[-1] == 99
    uv, mask = project_to_camera(np.float32([[2, 1, 2], [1, 1, -1]]))
    assert mask.tolist() == [True, False]
    assert uv.tolist() == [[1.0, 0.5]]


def test_save_flow_png(tmp_path):
    pc1, pc2, flow = scene()
    path = save_flow_png(str(tmp_path / 'a' / 's.png'), torch.from_numpy(pc1),
                         pc2, flow + 0.1, gt_flow=flow, title='s')
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    assert len(data) < 200 * 1024


def test_figure_panels_and_errors():
    import matplotlib.pyplot as plt
    pc1, pc2, flow = scene()
    fig = draw_flow_figure(pc1, pc2, flow, gt_flow=flow + 0.2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("bird's-eye") and 'camera' in titles[1]
    assert 'EPE3D 0.3464 m' in titles[2]  # |(0.2, 0.2, 0.2)|
    assert len(fig.axes) == 4  # three panels and the colour bar
    plt.close(fig)
    with pytest.raises(ValueError, match='flow'):
        draw_flow_figure(pc1, pc2, flow[:10])
    with pytest.raises(ValueError, match=r'pc2 must have shape \(N, 3\)'):
        draw_flow_figure(pc1, pc2[:, :2], flow)


def test_visualizer_sends_to_backends(tmp_path):
    with pytest.raises(ValueError, match='max_error'):
        FlowVisualizer(name='flow_vis_bad', max_error=-1)
    vis = VISUALIZERS.build(
        dict(type='FlowVisualizer', name='flow_vis_test',
             vis_backends=[dict(type='LocalVisBackend')],
             save_dir=str(tmp_path), max_points=200))
    assert isinstance(vis, FlowVisualizer)
    pc1, pc2, flow = scene()
    image = vis.add_flow_sample('sample', pc1, pc2, flow, flow, step=3,
                                out_file=str(tmp_path / 'out.png'))
    assert image.ndim == 3 and image.shape[2] == 3
    assert (tmp_path / 'out.png').is_file()
    assert list(tmp_path.glob('**/vis_image/sample_3.png'))


def _error_panel_color(fig, point):
    """Colour of the error panel's marker at ``point`` (x, z)."""
    collection = fig.axes[2].collections[0]
    offsets = np.asarray(collection.get_offsets())
    hit = np.flatnonzero(np.all(np.isclose(offsets, point), axis=1))
    assert len(hit) == 1
    return collection.get_facecolors()[hit[0]]


def test_error_colour_scale_is_fixed():
    import matplotlib.pyplot as plt
    pc1, pc2, flow = scene(400)
    n = len(pc1)
    # Point 0 has an error of 0.1 m in both pictures; the other errors
    # span 0-0.15 m in one and 0-2 m in the other.
    small = np.linspace(0, 0.15, n, dtype=np.float32)
    large = np.linspace(0, 2.0, n, dtype=np.float32)
    small[0] = large[0] = 0.1
    figs = []
    for errors in (small, large):
        pred = flow.copy()
        pred[:, 1] += errors  # the error is the y offset
        figs.append(draw_flow_figure(pc1, pc2, pred, gt_flow=flow))
    point = (pc1[0, 0], pc1[0, 2])
    color_a, color_b = (_error_panel_color(f, point) for f in figs)
    np.testing.assert_allclose(color_a, color_b)
    np.testing.assert_allclose(color_a, error_colors(np.array([0.1]))[0])
    for fig in figs:
        bar = fig.axes[3]
        assert bar.get_ylabel() == 'end-point error (m)'
        assert bar.get_ylim() == pytest.approx((0.0, 0.3))
        plt.close(fig)
    # The colour depends on the error and max_error only; over the top
    # of the scale the top colour.
    colors = error_colors(np.array([0.0, 0.15, 0.3, 5.0]))
    np.testing.assert_allclose(colors[2], colors[3])
    assert not np.allclose(colors[0], colors[1])
    np.testing.assert_allclose(error_colors(np.array([0.3]), 0.6),
                               colors[1:2])
    with pytest.raises(ValueError, match='max_error'):
        error_colors(np.array([0.1]), 0.0)


def test_direction_colours():
    flow = np.float32([[1, 0, 0], [0, 0, 1], [-1, 0, 0], [0.5, 0, 0],
                       [0, 3, 0]])
    # Hue by the angle in the x-z plane (+x red, +z hue 0.25, -x cyan),
    # brightness 0.35 + 0.65 * length / max_flow, capped at 1.
    np.testing.assert_allclose(direction_colors(flow, 1.0), [
        [1, 0, 0], [0.5, 1, 0], [0, 1, 1], [0.675, 0, 0], [0.35, 0, 0]],
        atol=1e-6)


def test_image_sizes_and_file_size(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image
    pc1, pc2, flow = scene(600)
    fig = draw_flow_figure(pc1, pc2, flow * 1.1, gt_flow=flow)
    assert figure_to_rgb(fig).shape == (368, 1200, 3)
    plt.close(fig)
    pc1, pc2, flow = scene(2048)
    fig = draw_flow_comparison(pc1, pc2, [('a', flow * 1.1),
                                          ('b', flow * 0.7)], flow,
                               title='scene')
    path = tmp_path / 'cmp.png'
    save_figure(fig, str(path))
    plt.close(fig)
    with Image.open(path) as image:  # a row per flow and the ground truth
        assert image.size == (1200, 3 * 368)
    assert path.stat().st_size < 300 * 1024


def test_comparison_rows_share_views_and_scales():
    import matplotlib.pyplot as plt
    pc1, pc2, flow = scene(800)
    fig = draw_flow_comparison(pc1, pc2, [('teacher', flow + 0.05),
                                          ('student', flow * 0.5)], flow)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 9  # ground truth, teacher, student x 3 views
    titles = [ax.get_title() for ax in panels]
    assert titles[0].startswith("ground truth: bird's-eye")
    assert 'teacher: end-point error, EPE3D 0.0866 m' in titles  # 0.05*3^.5
    # |0.5 * (0.5, 0, 1)| = 0.5590
    assert 'student: end-point error, EPE3D 0.5590 m' in titles
    for view in range(3):
        limits = {(panels[3 * r + view].get_xlim(),
                   panels[3 * r + view].get_ylim()) for r in range(3)}
        assert len(limits) == 1
    # Same marker size and arrow scale in every row; the arrows are the
    # rows' flows times that scale.
    sizes = {float(ax.collections[0].get_sizes()[0]) for ax in panels}
    scales = flow_scales(pc1, pc2, flow)
    assert sizes == {scales.bev_size, scales.cam_size}
    quivers = [panels[3 * r].collections[-1] for r in range(3)]
    a = scales.arrows
    np.testing.assert_allclose(quivers[2].U,
                               0.5 * flow[a, 0] * scales.arrow_scale)
    np.testing.assert_allclose(quivers[0].V, flow[a, 2] * scales.arrow_scale)
    plt.close(fig)


def test_marker_size_follows_count_and_extent():
    rng = np.random.default_rng(0)
    limits = ((0.0, 10.0), (0.0, 10.0))
    spread = [marker_size(rng.uniform(0, 10, (n, 2)), limits)
              for n in (500, 2000, 8000)]
    assert spread[0] > spread[1] > spread[2]
    # The same count in a quarter of the panel: smaller markers.
    corner = marker_size(rng.uniform(0, 5, (2000, 2)), limits)
    assert corner < spread[1]
