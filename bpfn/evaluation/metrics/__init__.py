"""Metrics for the runner's evaluator."""
from .scene_flow_metric import (METRIC_TITLES, ZERO_FLOW_KEY, SceneFlowMetric,
                                format_metrics_table, format_zero_flow_lines)

__all__ = [
    'SceneFlowMetric', 'format_metrics_table', 'format_zero_flow_lines',
    'METRIC_TITLES', 'ZERO_FLOW_KEY'
]
