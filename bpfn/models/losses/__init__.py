from .ail_loss import AILLoss, ail_kd_term, ail_loss, ail_weights
from .bihint_loss import BiHintLoss, bihint_loss
from .hint_loss import HintLoss, hint_loss
from .multi_scale_loss import (MultiScaleLoss, multi_scale_loss,
                               subsample_flow)
from .output_kd_loss import OutputKDLoss, output_kd_loss

__all__ = [
    'MultiScaleLoss', 'multi_scale_loss', 'subsample_flow', 'OutputKDLoss',
    'output_kd_loss', 'HintLoss', 'hint_loss', 'BiHintLoss', 'bihint_loss',
    'AILLoss', 'ail_loss', 'ail_kd_term', 'ail_weights'
]
