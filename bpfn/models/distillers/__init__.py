from .adapters import ConvAdapter
from .meta_ddp import MetaDistillerDDP
from .meta_distiller import MetaSceneFlowDistiller, all_reduce_mean
from .scene_flow_distiller import (SceneFlowDistiller,
                                   resolve_teacher_checkpoint)

__all__ = [
    'ConvAdapter', 'SceneFlowDistiller', 'MetaSceneFlowDistiller',
    'MetaDistillerDDP', 'all_reduce_mean', 'resolve_teacher_checkpoint'
]
