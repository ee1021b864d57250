"""bpfn: Bi-PointFlowNet scene flow and its distillation, in pure PyTorch."""
from .version import __version__

__all__ = ['__version__']
