"""Plain functions computing scene flow metrics."""
from .scene_flow_metrics import (METRIC_NAMES, camera_parameters,
                                 optical_flow_2d, project_to_image,
                                 scene_flow_metrics, scene_flow_metrics_2d,
                                 scene_flow_metrics_3d,
                                 scene_flow_metrics_per_sample)
from .threeway_epe import (DYNAMIC_SPEED, THREEWAY_CLASSES, THREEWAY_NAMES,
                           threeway_classes, threeway_epe,
                           threeway_epe_from_sums, threeway_epe_sums)

__all__ = [
    'METRIC_NAMES', 'camera_parameters', 'project_to_image', 'optical_flow_2d',
    'scene_flow_metrics_3d', 'scene_flow_metrics_2d',
    'scene_flow_metrics_per_sample', 'scene_flow_metrics', 'THREEWAY_NAMES',
    'THREEWAY_CLASSES', 'DYNAMIC_SPEED', 'threeway_classes',
    'threeway_epe_sums', 'threeway_epe_from_sums', 'threeway_epe'
]
