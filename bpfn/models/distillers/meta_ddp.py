"""DDP wrapper that runs the meta-KD step on every process."""
from typing import Dict

from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from torch import Tensor

from bpfn.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class MetaDistillerDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for :class:`MetaSceneFlowDistiller`.

    MMEngine's DDP wrapper trains with ``self._run_forward(data,
    mode='loss')`` and never calls the module's own ``train_step``, so the
    meta step (pilot update, quiz loss, teacher update) would not run. This
    wrapper's :meth:`train_step` runs
    :meth:`MetaSceneFlowDistiller.meta_train_step`: the meta step on the
    unwrapped distiller (its ``g``, ``v`` and teacher gradients averaged
    over the processes, see :meth:`MetaSceneFlowDistiller.meta_step`), then
    the student's step through DDP's forward, which all-reduces the
    student's gradients. Select it in the config (with the scope: MMEngine's
    runner looks wrapper types up in its root registry)::

        model_wrapper_cfg = dict(type='bpfn.MetaDistillerDDP')

    A single-process run ignores ``model_wrapper_cfg`` and calls the
    distiller's own ``train_step``, which does the same.

    ``MetaKDTrainLoop`` refuses to start under any other DDP wrapper.
    """

    #: ``MetaKDTrainLoop`` checks this before training on several processes.
    runs_meta_step = True

    def __init__(self, module, **kwargs) -> None:
        if not hasattr(module, 'meta_train_step'):
            raise TypeError('MetaDistillerDDP wraps a MetaSceneFlowDistiller, '
                            f'got {type(module).__name__}')
        super().__init__(module=module, **kwargs)

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """The meta step, then the student's DDP step.

        Args:
            data (dict): The raw batch from the dataloader.
            optim_wrapper (OptimWrapper): The student's optimizer wrapper.

        Returns:
            dict: Log variables, with ``loss_quiz``.
        """
        return self.module.meta_train_step(data, optim_wrapper,
                                           self._run_forward, self)
