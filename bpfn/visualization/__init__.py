"""Scene flow pictures: plain drawing functions and a registered visualizer.

TensorBoard is an optional log backend (``pip install tensorboard``)::

    vis_backends = [dict(type='LocalVisBackend'),
                    dict(type='TensorboardVisBackend')]
    visualizer = dict(type='Visualizer', vis_backends=vis_backends,
                      name='visualizer')
"""
from .flow_drawing import (DEFAULT_MAX_ERROR, FlowScales, direction_colors,
                           draw_flow_comparison, draw_flow_figure,
                           end_point_error, error_colors, figure_to_rgb,
                           flow_scales, project_to_camera, save_figure,
                           save_flow_png, subsample_indices, to_numpy_points)
from .flow_visualizer import FlowVisualizer

__all__ = [
    'DEFAULT_MAX_ERROR', 'FlowScales', 'FlowVisualizer', 'direction_colors',
    'draw_flow_comparison', 'draw_flow_figure', 'end_point_error',
    'error_colors', 'figure_to_rgb', 'flow_scales', 'project_to_camera',
    'save_figure', 'save_flow_png', 'subsample_indices', 'to_numpy_points'
]
