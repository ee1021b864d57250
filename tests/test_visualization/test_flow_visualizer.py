"""Tests of bpfn/visualization."""
import numpy as np
import pytest
import torch

from bpfn.registry import VISUALIZERS
from bpfn.visualization import (FlowVisualizer, draw_flow_figure,
                                project_to_camera, save_flow_png,
                                subsample_indices)


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
    assert 'mean EPE 0.3464' in titles[2]
    assert len(fig.axes) == 4  # three panels and the colour bar
    plt.close(fig)
    with pytest.raises(ValueError, match='flow'):
        draw_flow_figure(pc1, pc2, flow[:10])
    with pytest.raises(ValueError, match=r'pc2 must have shape \(N, 3\)'):
        draw_flow_figure(pc1, pc2[:, :2], flow)


def test_visualizer_sends_to_backends(tmp_path):
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
