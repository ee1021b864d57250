from .adapters import ConvAdapter
from .meta_distiller import MetaSceneFlowDistiller
from .scene_flow_distiller import (SceneFlowDistiller,
                                   resolve_teacher_checkpoint)

__all__ = [
    'ConvAdapter', 'SceneFlowDistiller', 'MetaSceneFlowDistiller',
    'resolve_teacher_checkpoint'
]
