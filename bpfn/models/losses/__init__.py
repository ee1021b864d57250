from .ail_loss import (AIL_ERROR_RANGES, AILLoss, ail_kd_term, ail_loss,
                       ail_weights, teacher_errors)
from .bihint_loss import BiHintLoss, bihint_loss
from .hint_loss import HINT_REDUCTIONS, HintLoss, hint_loss
from .multi_scale_loss import (MultiScaleLoss, multi_scale_loss,
                               subsample_flow)
from .output_kd_loss import OutputKDLoss, output_kd_loss

__all__ = [
    'MultiScaleLoss', 'multi_scale_loss', 'subsample_flow', 'OutputKDLoss',
    'output_kd_loss', 'HintLoss', 'hint_loss', 'HINT_REDUCTIONS',
    'BiHintLoss', 'bihint_loss', 'AILLoss', 'ail_loss', 'ail_kd_term',
    'ail_weights', 'teacher_errors', 'AIL_ERROR_RANGES'
]
