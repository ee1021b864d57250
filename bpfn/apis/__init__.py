from .inference import inference_flow, init_model

__all__ = ['init_model', 'inference_flow']
