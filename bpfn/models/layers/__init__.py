from .conv_block import Conv1dBlock, Conv2dBlock
from .cross_layer import BidirectionalCrossLayer
from .flow_estimator import ResidualFlowEstimator
from .pointconv import DecreasedLinear, PointConv, PointConvDown
from .weight_net import WeightNet

__all__ = [
    'Conv1dBlock', 'Conv2dBlock', 'BidirectionalCrossLayer',
    'ResidualFlowEstimator', 'DecreasedLinear', 'PointConv', 'PointConvDown',
    'WeightNet'
]
