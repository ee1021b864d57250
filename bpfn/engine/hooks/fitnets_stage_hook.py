"""FitNets' two-stage recipe: hints first, then GT + KD."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from bpfn.registry import HOOKS
from .kd_hook_utils import unwrap_distiller

__all__ = ['FitNetsStageHook']


@HOOKS.register_module()
class FitNetsStageHook(Hook):
    """Hint-only pre-training for ``hint_epochs`` epochs, then GT + KD.

    FitNets (Romero et al. 2015) first trains the student's layers up to
    the guided layer (and the regressor, here the adapters) on the hint
    loss alone, then the whole student on its task. During the first
    ``hint_epochs`` epochs the distiller's loss is its feature losses only
    (:meth:`SceneFlowDistiller.hint_stage_loss`): the student runs up to its
    last tapped module, so its upper layers get no gradient and the
    optimizer leaves them (and their moments) as they are. From epoch
    ``hint_epochs`` on the distiller trains with GT + KD as configured.

    On several processes the hint stage leaves parameters without gradient,
    which DDP accepts only with ``model_wrapper_cfg=dict(
    find_unused_parameters=True)``; the hook refuses to start otherwise.

    Args:
        hint_epochs (int): Epochs of the hint-only stage.
    """

    priority = 'NORMAL'

    def __init__(self, hint_epochs: int) -> None:
        if int(hint_epochs) < 1:
            raise ValueError('FitNetsStageHook: hint_epochs must be >= 1, '
                             f'got {hint_epochs}')
        self.hint_epochs = int(hint_epochs)

    def before_train(self, runner) -> None:
        """Check the distiller (feature losses) and the DDP wrapper."""
        distiller = unwrap_distiller(runner, 'FitNetsStageHook')
        distiller.set_hint_only(True)  # refuses without feature losses
        distiller.set_hint_only(runner.epoch < self.hint_epochs)
        if is_model_wrapper(runner.model) and not getattr(
                runner.model, 'find_unused_parameters', True):
            raise RuntimeError(
                'FitNetsStageHook: the hint-only stage trains only the '
                "student's layers below the guided ones, so DDP must allow "
                'unused parameters: set model_wrapper_cfg=dict('
                'find_unused_parameters=True)')

    def before_train_epoch(self, runner) -> None:
        """Hint-only before ``hint_epochs``, GT + KD from then on."""
        distiller = unwrap_distiller(runner, 'FitNetsStageHook')
        hint_only = runner.epoch < self.hint_epochs
        if hint_only != distiller.hint_only or runner.epoch == 0:
            runner.logger.info(
                f'FitNetsStageHook: epoch {runner.epoch + 1}: '
                + ('hint-only stage (feature losses alone)' if hint_only
                   else 'GT + KD stage'))
        distiller.set_hint_only(hint_only)
