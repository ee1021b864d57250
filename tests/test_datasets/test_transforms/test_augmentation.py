"""Tests of bpfn/datasets/transforms/augmentation.py."""
import math

import numpy as np
import pytest
import torch

from bpfn.datasets.transforms import FlowAugmentation


def sample(corresponding=True, num=200):
    rng = np.random.default_rng(1)
    pc1 = rng.uniform([-10, -1.5, 2], [10, 2, 30], (num, 3)).astype(np.float32)
    flow = rng.normal(0, 0.5, (num, 3)).astype(np.float32)
    pc2 = pc1 + flow if corresponding else rng.uniform(
        [-10, -1.5, 2], [10, 2, 30], (num + 13, 3)).astype(np.float32)
    return dict(
        pc1=pc1, pc2=pc2, flow=flow, sample_idx=0, corresponding=corresponding)


def test_flow_stays_consistent_with_pc2():
    torch.manual_seed(0)
    src = sample()
    out = FlowAugmentation(jitter_clip=0.02)(dict(src))
    np.testing.assert_allclose(out['pc1'] + out['flow'], out['pc2'], atol=1e-5)
    assert not np.allclose(out['pc1'], src['pc1'])


def test_together_transform_is_a_scaled_rotation_plus_shift():
    src = sample()
    out = FlowAugmentation(pc2_shift_range=0.0, deterministic=True)(dict(src))
    # Solve out = src @ M + b by least squares; M = S R^T with S in
    # [0.95, 1.05] and R a rotation about y within 10 degrees.
    design = np.concatenate([src['pc1'], np.ones((len(src['pc1']), 1))], 1)
    sol, *_ = np.linalg.lstsq(design, out['pc1'], rcond=None)
    matrix, shift = sol[:3], sol[3]
    np.testing.assert_allclose(design @ sol, out['pc1'], atol=1e-4)
    scale = np.linalg.norm(matrix, axis=1)
    assert ((scale > 0.95 - 1e-5) & (scale < 1.05 + 1e-5)).all()
    angle = math.degrees(math.atan2(matrix[2, 0], matrix[0, 0]))
    assert abs(angle) <= 10 + 1e-3
    assert matrix[1, 0] == pytest.approx(0, abs=1e-6)
    assert (np.abs(shift) <= 1.0 + 1e-5).all()
    # Without the pc2 motion the flow is the original flow through M.
    np.testing.assert_allclose(out['flow'], src['flow'] @ matrix, atol=1e-5)


def test_pc2_shift_is_part_of_the_flow():
    src = sample()
    base = FlowAugmentation(pc2_shift_range=0.0, deterministic=True)(dict(src))
    moved = FlowAugmentation(
        pc2_shift_range=0.3, deterministic=True)(
            dict(src))
    np.testing.assert_allclose(moved['pc1'], base['pc1'], atol=1e-6)
    extra = moved['flow'] - base['flow']
    # The same shift for every point, within +-0.3 m.
    np.testing.assert_allclose(
        extra, np.broadcast_to(extra[0], extra.shape), atol=1e-5)
    assert (np.abs(extra[0]) <= 0.3 + 1e-6).all()
    assert np.abs(extra[0]).max() > 1e-3


def test_pc2_jitter_is_noise_outside_the_flow():
    src = sample()
    out = FlowAugmentation(
        pc2_jitter_sigma=0.01, pc2_jitter_clip=0.05, deterministic=True)(
            dict(src))
    noise = out['pc2'] - (out['pc1'] + out['flow'])
    assert 0 < np.abs(noise).max() <= 0.05 + 1e-5


def test_independent_clouds_keep_their_sizes():
    src = sample(corresponding=False)
    out = FlowAugmentation(deterministic=True)(dict(src))
    assert out['pc2'].shape == (213, 3) and out['flow'].shape == (200, 3)


def test_reproducible_with_seeded_torch():
    torch.manual_seed(5)
    a = FlowAugmentation()(sample())
    b = FlowAugmentation()(sample())
    torch.manual_seed(5)
    c = FlowAugmentation()(sample())
    np.testing.assert_array_equal(a['pc2'], c['pc2'])
    assert not np.array_equal(a['pc2'], b['pc2'])


def test_ego_flow_moves_with_the_clouds():
    # Rows 0-99 are static (their flow is the ego flow); rows 100+ move on
    # their own by 0.5 m along x.
    src = sample(corresponding=False)
    ego = np.tile(np.float32([0.1, 0.0, 0.8]), (200, 1))
    own = np.zeros((200, 3), np.float32)
    own[100:, 0] = 0.5
    src.update(flow=ego + own, ego_flow=ego)
    out = FlowAugmentation(pc2_rot_range=5.0, deterministic=True)(dict(src))
    residual = out['flow'] - out['ego_flow']
    np.testing.assert_allclose(residual[:100], 0.0, atol=1e-5)
    # The own motion turns and scales with the clouds (scale 0.95-1.05).
    speed = np.linalg.norm(residual[100:], axis=1)
    assert ((speed > 0.5 * 0.95 - 1e-4) & (speed < 0.5 * 1.05 + 1e-4)).all()
    # The same transform as without ego flow; a sample without ground truth
    # gets it too.
    plain = FlowAugmentation(pc2_rot_range=5.0, deterministic=True)(
        {k: v for k, v in src.items() if k != 'ego_flow'})
    np.testing.assert_array_equal(plain['flow'], out['flow'])
    unlabelled = {k: v for k, v in src.items()
                  if k not in ('flow', 'ego_flow')}
    no_gt = FlowAugmentation(pc2_rot_range=5.0, deterministic=True)(
        unlabelled)
    np.testing.assert_array_equal(no_gt['pc2'], out['pc2'])
    assert 'flow' not in no_gt
