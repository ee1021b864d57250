"""Scene flow evaluation: metric functions and the runner metric."""
from .functional import (DYNAMIC_SPEED, METRIC_NAMES, THREEWAY_CLASSES,
                         THREEWAY_NAMES, camera_parameters, optical_flow_2d,
                         project_to_image, scene_flow_metrics,
                         scene_flow_metrics_2d, scene_flow_metrics_3d,
                         scene_flow_metrics_per_sample, threeway_classes,
                         threeway_epe, threeway_epe_from_sums,
                         threeway_epe_sums)
from .metrics import (METRIC_TITLES, ZERO_FLOW_KEY, SceneFlowMetric,
                      format_metrics_table, format_zero_flow_lines)

__all__ = [
    'METRIC_NAMES', 'camera_parameters', 'project_to_image', 'optical_flow_2d',
    'scene_flow_metrics_3d', 'scene_flow_metrics_2d',
    'scene_flow_metrics_per_sample', 'scene_flow_metrics', 'SceneFlowMetric',
    'format_metrics_table', 'format_zero_flow_lines', 'METRIC_TITLES',
    'ZERO_FLOW_KEY', 'THREEWAY_NAMES',
    'THREEWAY_CLASSES', 'DYNAMIC_SPEED', 'threeway_classes',
    'threeway_epe_sums', 'threeway_epe_from_sums', 'threeway_epe'
]
