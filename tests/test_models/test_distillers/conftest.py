"""Tiny teacher/student configs shared by the distiller tests."""
import pytest
import torch
from mmengine.registry import init_default_scope

from bpfn.registry import MODELS

TINY = dict(
    type='BiPointFlowNet', num_points=[32, 16, 16, 8], feat_neighbors=4,
    flow_neighbors=4, estimator_neighbors=4, width_mult=0.25,
    estimator_channels=[32, 32], estimator_mlp=[32, 16])
NUM_POINTS = 64


@pytest.fixture
def teacher_ckpt(tmp_path):
    """A random tiny teacher saved as a bpfn checkpoint."""
    init_default_scope('bpfn')
    torch.manual_seed(0)
    teacher = MODELS.build(TINY)
    path = tmp_path / 'teacher.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=teacher.state_dict()),
               path)
    return str(path)


def _make_batch(batch_size: int = 2, seed: int = 0):
    """Inputs (B, N, 3) and data samples with a rigid-translation flow."""
    gen = torch.Generator().manual_seed(seed)
    pc1 = torch.rand(batch_size, NUM_POINTS, 3, generator=gen)
    flow = 0.05 * torch.randn(batch_size, 1, 3, generator=gen).expand(
        -1, NUM_POINTS, -1)
    samples = [dict(gt_flow=flow[i].clone()) for i in range(batch_size)]
    return dict(pc1=pc1, pc2=pc1 + flow), samples


@pytest.fixture
def tiny_cfg() -> dict:
    """Config of the tiny teacher (copy it to make students)."""
    return dict(TINY)


@pytest.fixture
def make_batch():
    """``make_batch(batch_size=2, seed=0)`` -> (inputs, data_samples)."""
    return _make_batch
