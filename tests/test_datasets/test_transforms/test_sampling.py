"""Tests of bpfn/datasets/transforms/sampling.py."""
import numpy as np
import torch

from bpfn.datasets.transforms import RandomSampleFlowPoints


def sample(num1=100, num2=100, idx=0, corresponding=True):
    rng = np.random.default_rng(0)
    pc1 = rng.normal(size=(num1, 3)).astype(np.float32)
    flow = rng.normal(size=(num1, 3)).astype(np.float32)
    pc2 = pc1 + flow if corresponding else rng.normal(
        size=(num2, 3)).astype(np.float32)
    return dict(
        pc1=pc1,
        pc2=pc2,
        flow=flow,
        sample_idx=idx,
        corresponding=corresponding)


def rows(sub, full):
    """Row index in ``full`` of every row of ``sub``."""
    eq = (sub[:, None] == full[None]).all(-1)
    assert eq.any(1).all()
    return eq.argmax(1)


def test_deterministic_mode_repeats_per_sample_index():
    t = RandomSampleFlowPoints(num_points=32, deterministic=True)
    a, b = t(sample(idx=3)), t(sample(idx=3))
    c = t(sample(idx=4))
    np.testing.assert_array_equal(a['pc1'], b['pc1'])
    np.testing.assert_array_equal(a['pc2'], b['pc2'])
    assert not np.array_equal(a['pc1'], c['pc1'])
    # test_mode of the sample switches the deterministic mode on.
    d = RandomSampleFlowPoints(num_points=32)(
        dict(sample(idx=3), test_mode=True))
    np.testing.assert_array_equal(a['pc1'], d['pc1'])


def test_independent_sampling_keeps_flow_with_pc1():
    full = sample()
    out = RandomSampleFlowPoints(num_points=40, deterministic=True)(dict(full))
    idx1 = rows(out['pc1'], full['pc1'])
    idx2 = rows(out['pc2'], full['pc2'])
    assert len(set(idx1.tolist())) == 40  # no replacement with 100 points
    np.testing.assert_array_equal(out['flow'], full['flow'][idx1])
    assert not np.array_equal(idx1, idx2)
    assert out['corresponding'] is False


def test_corresponding_sampling_when_asked():
    full = sample()
    out = RandomSampleFlowPoints(
        num_points=40, deterministic=True, independent=False)(
            dict(full))
    np.testing.assert_allclose(out['pc2'], out['pc1'] + out['flow'])
    assert out['corresponding'] is True


def test_replacement_when_too_few_points():
    full = sample(num1=10, num2=7, corresponding=False)
    out = RandomSampleFlowPoints(num_points=32, deterministic=True)(dict(full))
    assert out['pc1'].shape == (32, 3) and out['pc2'].shape == (32, 3)
    assert set(rows(out['pc1'], full['pc1']).tolist()) <= set(range(10))
    assert len(set(rows(out['pc2'], full['pc2']).tolist())) <= 7


def test_training_mode_follows_torch_seed():
    t = RandomSampleFlowPoints(num_points=32)
    torch.manual_seed(0)
    a, b = t(sample()), t(sample())
    torch.manual_seed(0)
    c = t(sample())
    np.testing.assert_array_equal(a['pc1'], c['pc1'])
    assert not np.array_equal(a['pc1'], b['pc1'])


def test_labels_follow_pc1_and_unlabelled_samples_are_sampled():
    src = sample(corresponding=False, num2=70)
    src['pc1_label'] = np.arange(100, dtype=np.int32)
    src['ego_flow'] = src['pc1'] * 2
    out = RandomSampleFlowPoints(num_points=48, deterministic=True)(src)
    picked = rows(out['pc1'], sample(corresponding=False, num2=70)['pc1'])
    np.testing.assert_array_equal(out['pc1_label'], picked)
    np.testing.assert_array_equal(out['ego_flow'], out['pc1'] * 2)
    unlabelled = sample(corresponding=False, num2=70)
    del unlabelled['flow']
    out = RandomSampleFlowPoints(num_points=150, deterministic=True)(
        unlabelled)
    assert out['pc1'].shape == out['pc2'].shape == (150, 3)
    assert 'flow' not in out
