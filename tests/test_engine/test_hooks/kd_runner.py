"""A tiny real distillation runner (synthetic scenes) for KD hook tests."""
import copy
from typing import List, Optional

import torch
from mmengine.registry import init_default_scope

from bpfn.registry import MODELS

#: A tiny BiPointFlowNet: 128 input points, first level samples 64.
TINY_NET = dict(
    type='BiPointFlowNet', num_points=[64, 32, 16, 8], feat_neighbors=4,
    flow_neighbors=4, estimator_neighbors=4, width_mult=0.25,
    estimator_channels=[16, 16], estimator_mlp=[16, 16])
POINTS = 128
HINT = dict(type='HintLoss', student='cross2.embedding_12',
            teacher='cross2.embedding_12', loss_weight=0.3)


def save_teacher(path: str, seed: int = 0) -> str:
    """Save a randomly initialised tiny teacher as a bpfn checkpoint."""
    init_default_scope('bpfn')
    torch.manual_seed(seed)
    teacher = MODELS.build(TINY_NET)
    torch.save(dict(meta=dict(epoch=1), state_dict=teacher.state_dict()),
               path)
    return path


def _loader(split: str, num: int, test_mode: bool) -> dict:
    return dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=not test_mode),
        collate_fn=dict(type='flow_collate'),
        dataset=dict(type='SyntheticSceneFlow', split=split,
                     num_samples=num, num_points=POINTS, test_mode=test_mode,
                     pipeline=[dict(type='RandomSampleFlowPoints',
                                    num_points=POINTS),
                               dict(type='PackFlowInputs')]))


def kd_runner_cfg(work_dir: str, teacher_ckpt: str,
                  losses: Optional[List[dict]] = None, epochs: int = 1,
                  hooks: Optional[List[dict]] = None, num_train: int = 4,
                  num_val: int = 2, **extra) -> dict:
    """A BPFNRunner config distilling the tiny teacher into a WN4 student.

    Args:
        work_dir (str): Work dir.
        teacher_ckpt (str): Teacher checkpoint (see :func:`save_teacher`).
        losses (list[dict], optional): ``distill_losses``. Defaults to one
            hint.
        epochs (int): Epochs. Defaults to 1.
        hooks (list[dict], optional): Custom hooks. Defaults to none.
        num_train (int): Training scenes (batch 2). Defaults to 4.
        num_val (int): Validation scenes. Defaults to 2.
        **extra: More config entries.
    """
    cfg = dict(
        model=dict(type='SceneFlowDistiller',
                   student=dict(TINY_NET, weightnet=4), teacher=TINY_NET,
                   teacher_ckpt=teacher_ckpt,
                   distill_losses=copy.deepcopy(losses or [HINT])),
        work_dir=work_dir,
        train_dataloader=_loader('train', num_train, False),
        val_dataloader=_loader('val', num_val, True),
        val_evaluator=dict(type='SceneFlowMetric'),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=1),
        custom_hooks=hooks or [],
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='bpfn',
        randomness=dict(seed=0),
        log_level='INFO',
        experiment_name=f'kd_{abs(hash(work_dir))}')
    cfg.update(extra)
    return cfg
