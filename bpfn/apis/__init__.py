from .export import FlowExportWrapper, export_onnx, flow_points_last
from .inference import inference_flow, init_model

__all__ = [
    'init_model', 'inference_flow', 'FlowExportWrapper', 'export_onnx',
    'flow_points_last'
]
