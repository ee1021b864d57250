from .multi_scale_loss import (MultiScaleLoss, multi_scale_loss,
                               subsample_flow)

__all__ = ['MultiScaleLoss', 'multi_scale_loss', 'subsample_flow']
