from .adapters import ConvAdapter
from .labeled_batches import (gt_targets_or_zeros, labeled_samples,
                              select_samples)
from .meta_ddp import MetaDistillerDDP
from .meta_distiller import MetaSceneFlowDistiller, all_reduce_mean
from .scene_flow_distiller import SceneFlowDistiller
from .self_supervised_terms import SELF_SUPERVISED_ON, SelfSupervisedTerms

__all__ = [
    'ConvAdapter', 'SceneFlowDistiller', 'MetaSceneFlowDistiller',
    'MetaDistillerDDP', 'all_reduce_mean', 'SELF_SUPERVISED_ON',
    'SelfSupervisedTerms', 'labeled_samples', 'select_samples',
    'gt_targets_or_zeros'
]
