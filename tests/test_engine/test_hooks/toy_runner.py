"""A tiny real runner (toy model and data) for hook tests."""
from typing import Dict, List, Optional

import torch
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset


class ToyFlowData(Dataset):
    """Samples ``x`` with a name; the samples in ``bad`` hold NaN.

    Args:
        num (int): Number of samples.
        bad (list[int], optional): Indices of NaN samples.
    """

    def __init__(self, num: int = 8, bad: Optional[List[int]] = None):
        self.num = num
        self.bad = set(bad or [])

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, idx: int) -> dict:
        x = torch.full((3, ), float(idx + 1))
        if idx in self.bad:
            x[1] = float('nan')
        gt = torch.full((4, 3), 0.5 * (idx + 1))
        return dict(inputs=x, data_samples=dict(
            sample_idx=idx, sample_name=f'toy_{idx:03d}', dataset='Toy',
            gt_flow=gt))


class ToyModel(BaseModel):
    """``loss = mean((w * x - 1) ** 2)`` plus an unused frozen layer."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))
        self.frozen = nn.Linear(3, 3)
        for p in self.frozen.parameters():
            p.requires_grad = False

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor'):
        out = inputs * self.w
        if mode == 'loss':
            return dict(loss=((out - 1)**2).mean())
        if mode == 'predict':
            return [dict(sample_idx=s['sample_idx'], dataset=s['dataset'],
                         gt_flow=s['gt_flow'], pred_flow=s['gt_flow'] * 0)
                    for s in data_samples]
        return out


def toy_collate(batch: List[dict]) -> Dict[str, object]:
    """Stack ``inputs``, keep ``data_samples`` as a list."""
    return dict(inputs=torch.stack([b['inputs'] for b in batch]),
                data_samples=[b['data_samples'] for b in batch])


def toy_runner_cfg(work_dir: str, bad=None, epochs: int = 1,
                   optim_wrapper: Optional[dict] = None,
                   custom_hooks: Optional[list] = None,
                   **extra) -> dict:
    """Keyword arguments of a BPFNRunner training the toy model."""
    loader = dict(dataset=ToyFlowData(8, bad), batch_size=2, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=toy_collate)
    cfg = dict(
        model=ToyModel(),
        work_dir=work_dir,
        train_dataloader=loader,
        optim_wrapper=optim_wrapper or dict(
            type='FiniteLossOptimWrapper',
            optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        custom_hooks=custom_hooks or [],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        default_scope='bpfn',
        randomness=dict(seed=0),
        experiment_name=f'toy_{abs(hash(work_dir))}')
    cfg.update(extra)
    return cfg
