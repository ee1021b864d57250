from .ail_loss import (AIL_ERROR_RANGES, AILLoss, ail_kd_term, ail_loss,
                       ail_weights, teacher_errors)
from .bihint_loss import BiHintLoss, bihint_loss
from .distill_loss import (BaseDistillLoss, BaseFeatureDistillLoss,
                           BaseOutputDistillLoss)
from .chamfer_loss import (ChamferLoss, chamfer_distance, chamfer_loss,
                           nearest_sq_distances)
from .hint_loss import HINT_REDUCTIONS, HintLoss, hint_loss
from .laplacian_loss import (LaplacianLoss, interpolate_inverse_sq,
                             laplacian_regularity, point_laplacian)
from .multi_scale_loss import (MultiScaleLoss, multi_scale_loss,
                               subsample_flow)
from .output_kd_loss import OutputKDLoss, output_kd_loss
from .self_supervised_loss import BaseSelfSupervisedLoss, check_flow_levels
from .smoothness_loss import SmoothnessLoss, flow_smoothness

__all__ = [
    'MultiScaleLoss', 'multi_scale_loss', 'subsample_flow', 'OutputKDLoss',
    'output_kd_loss', 'HintLoss', 'hint_loss', 'HINT_REDUCTIONS',
    'BiHintLoss', 'bihint_loss', 'AILLoss', 'ail_loss', 'ail_kd_term',
    'ail_weights', 'teacher_errors', 'AIL_ERROR_RANGES', 'ChamferLoss',
    'chamfer_loss', 'chamfer_distance', 'nearest_sq_distances',
    'SmoothnessLoss', 'flow_smoothness', 'LaplacianLoss',
    'laplacian_regularity', 'point_laplacian', 'interpolate_inverse_sq',
    'BaseSelfSupervisedLoss', 'check_flow_levels', 'BaseDistillLoss',
    'BaseFeatureDistillLoss', 'BaseOutputDistillLoss'
]
