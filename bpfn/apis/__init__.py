from .export import FlowExportWrapper, export_onnx
from .inference import (inference_flow, inference_pipeline, inference_scene,
                        init_model, upsample_flow)
from .testing import NonFiniteResultError, non_finite_results, test_checkpoint

__all__ = [
    'init_model', 'inference_flow', 'inference_scene', 'inference_pipeline',
    'upsample_flow', 'FlowExportWrapper', 'export_onnx',
    'test_checkpoint', 'non_finite_results',
    'NonFiniteResultError'
]
