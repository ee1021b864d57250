"""Scene flow transforms, registered in ``bpfn.registry.TRANSFORMS``."""
from .augmentation import FlowAugmentation
from .depth_filter import DepthFilter
from .formatting import PackFlowInputs
from .ground_removal import GroundRemoval
from .loading import LoadScanPair, LoadSceneFlowNpy
from .sampling import RandomSampleFlowPoints

__all__ = [
    'LoadSceneFlowNpy', 'LoadScanPair', 'DepthFilter', 'GroundRemoval',
    'RandomSampleFlowPoints', 'FlowAugmentation', 'PackFlowInputs'
]
