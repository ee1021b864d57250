"""The training loader with several workers does not leak memory."""
import os

import pytest

import torch
from torch.utils.data import DataLoader

from bpfn.datasets import SyntheticSceneFlow, flow_collate

PIPELINE = [
    dict(type='FlowAugmentation'),
    dict(type='RandomSampleFlowPoints', num_points=2048),
    dict(type='PackFlowInputs')
]


def _rss_mib(pid: str = 'self') -> float:
    """Resident memory of a process, MiB (Linux /proc)."""
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'no VmRSS in /proc/{pid}/status')


def _workers_rss_mib() -> float:
    """Resident memory of this process's children (the loader workers)."""
    pid = os.getpid()
    with open(f'/proc/{pid}/task/{pid}/children') as f:
        children = f.read().split()
    return sum(_rss_mib(child) for child in children)


@pytest.mark.skipif(not os.path.exists('/proc/self/status'),
                    reason='memory is read from Linux /proc')
def test_several_workers_serve_epochs_without_leaking():
    dataset = SyntheticSceneFlow(
        num_samples=96, num_points=4096, split='train', pipeline=PIPELINE)
    loader = DataLoader(dataset, batch_size=4, num_workers=2,
                        persistent_workers=True, collate_fn=flow_collate,
                        generator=torch.Generator().manual_seed(0))
    rss, workers = [], []
    for _ in range(4):
        seen = 0
        for batch in loader:
            assert batch['inputs']['pc1'].shape == (4, 2048, 3)
            seen += len(batch['data_samples'])
        assert seen == 96  # every sample served once per epoch
        rss.append(_rss_mib())
        workers.append(_workers_rss_mib())
    # After the first epoch (allocator warm-up) memory stays flat: the main
    # process and the persistent workers alike.
    assert rss[-1] - rss[1] < 32, rss
    assert 0 < workers[-1] and workers[-1] - workers[1] < 32, workers
