"""Metrics for the runner's evaluator."""
from .scene_flow_metric import (METRIC_TITLES, SceneFlowMetric,
                                format_metrics_table)

__all__ = ['SceneFlowMetric', 'format_metrics_table', 'METRIC_TITLES']
