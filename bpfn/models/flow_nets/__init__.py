from .bi_pointflownet import BiPointFlowNet

__all__ = ['BiPointFlowNet']
