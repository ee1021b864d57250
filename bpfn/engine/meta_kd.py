"""Training loop of meta-KD: feeds a quiz batch to the distiller each step."""
from typing import Dict, Iterator, Optional, Union

from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from bpfn.registry import LOOPS

__all__ = ['MetaKDTrainLoop']


@LOOPS.register_module()
class MetaKDTrainLoop(EpochBasedTrainLoop):
    """Epoch-based loop that hands a quiz batch to the model every step.

    The quiz batches come from ``quiz_dataloader`` (a held-out split,
    disjoint from the training data), cycled endlessly (a new sampler epoch,
    i.e. a new shuffle, each cycle); before each training step the loop
    calls ``model.set_quiz_batch(batch)`` (see ``MetaSceneFlowDistiller``).

    On several processes the model must be wrapped by ``MetaDistillerDDP``
    (``model_wrapper_cfg=dict(type='bpfn.MetaDistillerDDP')``): MMEngine's
    own DDP wrapper never calls the distiller's train step, so the teacher
    would silently stay as it is; the loop refuses to start then.

    Args:
        runner: The runner.
        dataloader (DataLoader | dict): Training data.
        quiz_dataloader (DataLoader | dict): Held-out quiz data.
        max_epochs (int): Epochs.
        val_begin (int): Defaults to 1.
        val_interval (int): Defaults to 1.
        dynamic_intervals (list, optional): Defaults to None.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 quiz_dataloader: Union[DataLoader, Dict],
                 max_epochs: int,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals: Optional[list] = None) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        model = runner.model
        if is_model_wrapper(model) and not getattr(model, 'runs_meta_step',
                                                   False):
            raise RuntimeError(
                f'MetaKDTrainLoop: the model is wrapped by '
                f'{type(model).__name__}, which calls forward() directly and '
                'skips the meta step (the teacher would never be updated and '
                'the quiz batches never used); set model_wrapper_cfg=dict('
                "type='bpfn.MetaDistillerDDP') in the config to train "
                'meta-KD on several processes')
        if isinstance(quiz_dataloader, dict):
            quiz_dataloader = runner.build_dataloader(quiz_dataloader,
                                                      seed=runner.seed)
        self.quiz_dataloader = quiz_dataloader
        self.quiz_iter: Optional[Iterator] = None
        self.quiz_cycle = 0

    def next_quiz(self) -> dict:
        """The next quiz batch, restarting the quiz data when exhausted."""
        if self.quiz_iter is not None:
            try:
                return next(self.quiz_iter)
            except StopIteration:
                self.quiz_cycle += 1
        sampler = getattr(self.quiz_dataloader, 'sampler', None)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(self.quiz_cycle)
        self.quiz_iter = iter(self.quiz_dataloader)
        return next(self.quiz_iter)

    def run_iter(self, idx: int, data_batch) -> None:
        """Give the model its quiz batch, then run the usual step."""
        model = self.runner.model.module if is_model_wrapper(
            self.runner.model) else self.runner.model
        if not hasattr(model, 'set_quiz_batch'):
            raise TypeError('MetaKDTrainLoop needs a MetaSceneFlowDistiller, '
                            f'got {type(model).__name__}')
        model.set_quiz_batch(self.next_quiz())
        super().run_iter(idx, data_batch)
