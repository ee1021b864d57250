"""Tests of bpfn/datasets/synthetic.py."""
import time

import numpy as np
import pytest

from bpfn.datasets import SyntheticSceneFlow, generate_synthetic_scene
from bpfn.datasets import base_flow_dataset as base_module
from bpfn.registry import DATASETS


def make(**kwargs):
    cfg = dict(type='SyntheticSceneFlow', num_samples=8, num_points=2048)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_deterministic_per_index():
    a, b = make(), make()
    for idx in (0, 5):
        x, y = a[idx], b[idx]
        for key in ('pc1', 'pc2', 'flow'):
            np.testing.assert_array_equal(x[key], y[key])
    assert a[0]['sample_name'] == 'train_000000'
    assert a[0]['dataset'] == 'Synthetic' and a[0]['camera'] == 'ft3d'
    assert a[0]['corresponding'] is False


def test_indices_splits_and_seeds_differ():
    base = make()[0]['pc1']
    assert not np.allclose(base, make()[1]['pc1'])
    for other in (make(split='val')[0], make(split='test')[0],
                  make(seed=1)[0]):
        assert other['pc1'].shape == base.shape
        assert not np.allclose(base, other['pc1'])
    with pytest.raises(ValueError, match='split must be one of'):
        make(split='dev')


def test_shapes_depth_and_flow_magnitude():
    item = make(num_points=4096)[3]
    for key in ('pc1', 'pc2', 'flow'):
        assert item[key].shape == (4096, 3) and item[key].dtype == np.float32
    depth = item['pc1'][:, 2]
    assert depth.min() > 0.9 and depth.max() < 35.1
    norms = np.linalg.norm(item['flow'], axis=1)
    assert 0.1 < np.median(norms) < 1.5
    assert np.percentile(norms, 95) < 3.5


def brute_nn(query, ref):
    """Index and distance of the nearest ``ref`` point of each query."""
    dist = ((query[:, None] - ref[None])**2).sum(-1)
    idx = dist.argmin(1)
    return idx, np.sqrt(dist[np.arange(len(query)), idx])


def test_clouds_do_not_correspond_but_flow_lands_on_pc2():
    scene = generate_synthetic_scene(
        np.random.default_rng([0, 0, 7]), num_points=4096)
    warped = scene['pc1'] + scene['flow']
    row_gap = np.linalg.norm(warped - scene['pc2'], axis=1)
    assert np.median(row_gap) > 1.0  # rows are unrelated
    # pc1 + flow lies on the surfaces sampled by pc2; pc1 does not.
    _, moved = brute_nn(warped[::8], scene['pc2'])
    _, still = brute_nn(scene['pc1'][::8], scene['pc2'])
    assert moved.mean() < 0.3
    assert moved.mean() < 0.8 * still.mean()


def test_flow_is_spatially_structured():
    # Neighbouring points move alike (ego motion plus rigid boxes), which
    # makes the flow learnable; random flow would not.
    scene = generate_synthetic_scene(np.random.default_rng(3), num_points=4096)
    query = scene['pc1'][::8]
    ref = np.delete(scene['pc1'], np.arange(0, 4096, 8), axis=0)
    ref_flow = np.delete(scene['flow'], np.arange(0, 4096, 8), axis=0)
    idx, _ = brute_nn(query, ref)
    diff = np.linalg.norm(scene['flow'][::8] - ref_flow[idx], axis=1)
    assert diff.mean() < 0.1 * np.linalg.norm(scene['flow'], axis=1).mean()


def test_generation_is_fast():
    dataset = SyntheticSceneFlow(num_samples=6, num_points=8192)
    dataset.generate(0)  # warm up
    times = []
    for idx in range(1, 6):
        start = time.perf_counter()
        dataset.generate(idx)
        times.append(time.perf_counter() - start)
    assert np.median(times) < 0.05


def test_pipeline_output_contract():
    dataset = make(
        split='val',
        test_mode=True,
        pipeline=[
            dict(type='DepthFilter'),
            dict(type='RandomSampleFlowPoints', num_points=1024),
            dict(type='PackFlowInputs')
        ])
    first, again = dataset[2], dataset[2]
    assert first['inputs']['pc1'].shape == (1024, 3)
    assert first['data_samples']['gt_flow'].shape == (1024, 3)
    assert first['data_samples']['sample_idx'] == 2
    assert first['data_samples']['dataset'] == 'Synthetic'
    np.testing.assert_array_equal(first['inputs']['pc2'].numpy(),
                                  again['inputs']['pc2'].numpy())


def test_static_points_follow_the_ego_motion():
    scene = generate_synthetic_scene(
        np.random.default_rng(4),
        num_points=2048,
        noise_std=0.0,
        with_labels=True)
    static = scene['pc1_label'] == -1
    assert 0.5 < static.mean() < 0.95
    np.testing.assert_allclose(
        scene['flow'][static], scene['ego_flow'][static], atol=1e-5)
    moving = np.linalg.norm(scene['flow'] - scene['ego_flow'], axis=1) > 0.05
    assert moving.any() and not (moving & static).any()


def test_scene_cfg_without_object_motion_gives_one_rigid_flow():
    dataset = SyntheticSceneFlow(
        num_samples=2,
        num_points=1024,
        noise_std=0.0,
        scene_cfg=dict(object_speed=0.0))
    scene = dataset.generate(1)
    src = scene['pc1'].astype(np.float64)
    dst = src + scene['flow']
    # Kabsch fit of one rotation and translation.
    mu_s, mu_d = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - mu_s).T @ (dst - mu_d))
    rot = (u @ vt).T
    fitted = (src - mu_s) @ rot.T + mu_d
    assert np.abs(fitted - dst).max() < 1e-4
    assert np.linalg.norm(scene['flow'], axis=1).mean() > 0.1


def test_size_is_reported_in_one_line(monkeypatch):
    messages = []
    monkeypatch.setattr(base_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    make(split='val', seed=3)
    assert messages == [
        'SyntheticSceneFlow (val): 8 samples (generated, seed=3, 2048 points '
        'per cloud)'
    ]


def test_labeled_fraction_is_deterministic_and_nested():
    ten = make(num_samples=20, labeled_fraction=0.1)
    assert ten.labeled_mask().sum() == 2
    np.testing.assert_array_equal(
        ten.labeled_mask(),
        make(num_samples=20, labeled_fraction=0.1).labeled_mask())
    # A larger fraction keeps the scenes of a smaller one.
    half = make(num_samples=20, labeled_fraction=0.5).labeled_mask()
    assert half.sum() == 10 and (half | ten.labeled_mask() == half).all()
    other_seed = make(num_samples=20, labeled_fraction=0.5, seed=1)
    assert (other_seed.labeled_mask() != half).any()
    assert make(num_samples=20, labeled_fraction=0.01).labeled_mask().sum() \
        == 1
    assert not make(num_samples=4, labeled_fraction=0.0).labeled_mask().any()
    assert make(num_samples=4).labeled_mask().all()
    with pytest.raises(ValueError, match=r'labeled_fraction must be in'):
        make(labeled_fraction=1.5)


def test_hidden_scenes_are_the_same_scenes_without_labels():
    full = make(num_samples=6, num_points=512)
    part = make(num_samples=6, num_points=512, labeled_fraction=0.5)
    mask = part.labeled_mask()
    for idx in range(6):
        a, b = full[idx], part[idx]
        np.testing.assert_array_equal(a['pc1'], b['pc1'])
        assert a['frame_interval'] == b['frame_interval'] == 0.1
        for key in ('flow', 'pc1_label', 'ego_flow'):
            assert (key in b) == mask[idx]
    packed = make(num_samples=6, num_points=512, labeled_fraction=0.5,
                  pipeline=[dict(type='PackFlowInputs')])
    assert [('gt_flow' in packed[i]['data_samples'])
            for i in range(6)] == mask.tolist()


def test_labels_and_subsets_follow_the_scene_index():
    # With indices, sample 0 is scene 4: its name, clouds and labels.
    dataset = make(num_samples=6, num_points=512, indices=[4, 1])
    item = dataset[0]
    assert item['sample_name'] == 'train_000004'
    np.testing.assert_array_equal(item['pc1'],
                                  make(num_points=512)[4]['pc1'])
    static = item['pc1_label'] == -1
    np.testing.assert_allclose(item['flow'][static],
                               item['ego_flow'][static], atol=1e-5)
