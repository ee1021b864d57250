"""Which network a model config describes: the model, or a distiller's
student.

Every distiller (``SceneFlowDistiller``, ``MetaDistiller`` and any subclass)
holds the network it trains under ``student``; the tools that need only
that network (FLOP counting, inference, deployment) take it from here, so
no tool has to know the distillers' type names.
"""
from typing import Mapping


def is_distiller(model_cfg: Mapping) -> bool:
    """Whether ``model_cfg`` (a config's ``model``) is a distiller's.

    Args:
        model_cfg (Mapping): The ``model`` field of a config.

    Returns:
        bool: True when it has a ``student`` entry.
    """
    return isinstance(model_cfg, Mapping) and 'student' in model_cfg


def student_config(model_cfg: Mapping) -> Mapping:
    """The network a model config trains: a distiller's student, else the
    config itself.

    Args:
        model_cfg (Mapping): The ``model`` field of a config.

    Returns:
        Mapping: ``model_cfg.student`` for a distiller, else ``model_cfg``.
    """
    return model_cfg['student'] if is_distiller(model_cfg) else model_cfg
