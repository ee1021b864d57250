"""Tests of bpfn/evaluation/functional/scene_flow_metrics.py."""
from pathlib import Path

import numpy as np
import pytest
import torch

from bpfn.evaluation.functional import (METRIC_NAMES, camera_parameters,
                                        optical_flow_2d, project_to_image,
                                        scene_flow_metrics,
                                        scene_flow_metrics_2d,
                                        scene_flow_metrics_3d,
                                        scene_flow_metrics_per_sample)

FIXTURE = (
    Path(__file__).resolve().parents[3] / '..' / 'shared' / 'fixtures' /
    'bpfn_reference.pt')

# P_rect_02 of KITTI scene flow 2015 scene 000000.
KITTI_P = [[7.215377e+02, 0.0, 6.095593e+02, 4.485728e+01],
           [0.0, 7.215377e+02, 1.728540e+02, 2.163791e-01],
           [0.0, 0.0, 1.0, 2.745884e-03]]


@pytest.fixture(scope='module')
def reference():
    if not FIXTURE.is_file():
        pytest.skip(f'reference fixture not found at {FIXTURE} (it ships '
                    'in the shared folder next to the repository)')
    return torch.load(FIXTURE, weights_only=False)


def test_fixture_metric_case(reference):
    case = reference['metric_case']
    got = scene_flow_metrics(case['pc1'], case['pred_flow'], case['gt_flow'])
    assert set(got) == set(METRIC_NAMES)
    for key, value in case['metrics'].items():
        assert got[key] == pytest.approx(value, abs=1e-5), key
    # Every metric is away from 0 and 1 in this case.
    assert 0 < got['ACC3DS'] < got['ACC3DR'] < 1


def test_fixture_metrics_of_full_resolution_flow(reference):
    pred = reference['flows'][0].permute(0, 2, 1)
    got = scene_flow_metrics(reference['pc1'], pred, reference['gt_flow'])
    for key, value in reference['metrics'].items():
        assert got[key] == pytest.approx(value, abs=1e-5), key


def test_3d_metrics_hand_computed():
    # gt norms 1, 1, 1, 0.1, 1 and errors 0.04, 0.07, 0.2, 0.2, 0.5 along x.
    gt = np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 0.1, 0], [0, 1, 0]],
                  dtype=np.float32)
    err = np.array([0.04, 0.07, 0.2, 0.2, 0.5], dtype=np.float32)
    pred = gt.copy()
    pred[:, 0] += err
    got = scene_flow_metrics_3d(pred, gt)
    rel = err / (np.array([1, 1, 1, 0.1, 1]) + 1e-4)
    assert got['EPE3D'] == pytest.approx(err.mean(), rel=1e-6)
    # err < 0.05 or rel < 0.05: point 0 only.
    assert got['ACC3DS'] == pytest.approx(1 / 5)
    # err < 0.1 or rel < 0.1: points 0 and 1 (rel 0.07).
    assert got['ACC3DR'] == pytest.approx(2 / 5)
    # err > 0.3 or rel > 0.1: points 2 (rel 0.2), 3 (rel 2) and 4.
    assert got['Outliers3D'] == pytest.approx(3 / 5)
    assert rel[2] > 0.1 and rel[1] < 0.1


def test_relative_error_epsilon_for_zero_flow():
    # With gt = 0 the relative error is err / 1e-4: an error of 4e-6 is
    # 4% relative (accurate) only through the epsilon.
    gt = np.zeros((2, 3), dtype=np.float32)
    pred = np.array([[4e-6, 0, 0], [0.2, 0, 0]], dtype=np.float32)
    got = scene_flow_metrics_3d(pred, gt)
    assert got['ACC3DS'] == pytest.approx(0.5)
    assert got['Outliers3D'] == pytest.approx(0.5)


def test_2d_metrics_hand_computed():
    gt = np.array([[10.0, 0.0], [100.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    pred = np.array([[12.0, 0.0], [104.0, 0.0], [0.0, 5.0]], dtype=np.float32)
    got = scene_flow_metrics_2d(pred, gt)
    assert got['EPE2D'] == pytest.approx((2 + 4 + 5) / 3, rel=1e-6)
    # err < 3 px (point 0) or rel < 5% (point 1: 4 / 100).
    assert got['ACC2D'] == pytest.approx(2 / 3)


def test_ft3d_projection_hand_computed():
    uv = project_to_image(np.array([[1.0, 2.0, 10.0], [-3.0, 0.5, 20.0]]))
    # u = x * (-1050) / z + 479.5, v = y * (-1050) / z + 269.5
    expected = [[1 * -1050 / 10 + 479.5, 2 * -1050 / 10 + 269.5],
                [-3 * -1050 / 20 + 479.5, 0.5 * -1050 / 20 + 269.5]]
    np.testing.assert_allclose(uv, expected, rtol=1e-6)


def test_kitti_projection_hand_computed():
    camera = dict(P_rect_02=KITTI_P)
    assert camera_parameters(camera) == pytest.approx(
        (-721.5377, 609.5593, 172.854, 44.85728, 0.2163791, 0.002745884))
    uv = project_to_image(np.array([[-2.0, 1.0, 10.0]]), camera)
    # Processed clouds have x and y negated, hence the focal -P[0][0]:
    # u = (x * -f + cx * z + P03) / (z + P23)
    u = (-2.0 * -721.5377 + 609.5593 * 10.0 + 44.85728) / (10.0 + 0.002745884)
    v = (1.0 * -721.5377 + 172.854 * 10.0 + 0.2163791) / (10.0 + 0.002745884)
    np.testing.assert_allclose(uv[0], [u, v], rtol=1e-6)
    # The camera point (X, Y, Z) = (2, -1, 10) lands where P_rect_02 puts it.
    hom = np.array(KITTI_P) @ np.array([2.0, -1.0, 10.0, 1.0])
    np.testing.assert_allclose(uv[0], hom[:2] / hom[2], rtol=1e-6)


def test_optical_flow_2d_matches_projections():
    rng = np.random.default_rng(0)
    pc1 = rng.uniform([-5, -1, 5], [5, 2, 30], (32, 3)).astype(np.float32)
    gt = rng.normal(0, 0.5, (32, 3)).astype(np.float32)
    pred = gt + rng.normal(0, 0.1, (32, 3)).astype(np.float32)
    camera = dict(P_rect_02=KITTI_P)
    flow_pred, flow_gt = optical_flow_2d(pc1, pred, gt, camera)
    uv1 = project_to_image(pc1, camera)
    np.testing.assert_allclose(flow_gt,
                               project_to_image(pc1 + gt, camera) - uv1)
    np.testing.assert_allclose(flow_pred,
                               project_to_image(pc1 + pred, camera) - uv1)


def test_2d_metrics_invariant_to_mirroring_x_and_y():
    # The FT3D projection mirrors the image (u -> 2 cx - u) for clouds stored
    # with x and y negated; the 2D metrics do not change.
    rng = np.random.default_rng(1)
    pc1 = rng.uniform([-5, -1, 5], [5, 2, 30], (64, 3)).astype(np.float32)
    gt = rng.normal(0, 0.5, (64, 3)).astype(np.float32)
    pred = gt + rng.normal(0, 0.2, (64, 3)).astype(np.float32)
    flip = np.array([-1, -1, 1], dtype=np.float32)
    a = scene_flow_metrics(pc1, pred, gt)
    b = scene_flow_metrics(pc1 * flip, pred * flip, gt * flip)
    for key in METRIC_NAMES:
        assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key


def test_batch_is_mean_of_samples_with_per_sample_cameras():
    rng = np.random.default_rng(2)
    pc1 = rng.uniform([-5, -1, 5], [5, 2, 30], (3, 40, 3)).astype(np.float32)
    gt = rng.normal(0, 0.5, (3, 40, 3)).astype(np.float32)
    pred = gt + rng.normal(0, 0.1, (3, 40, 3)).astype(np.float32)
    cameras = ['ft3d', dict(P_rect_02=KITTI_P), 'ft3d']
    batch = scene_flow_metrics(
        torch.from_numpy(pc1), torch.from_numpy(pred), torch.from_numpy(gt),
        cameras)
    singles = [
        scene_flow_metrics(pc1[b], pred[b], gt[b], cameras[b])
        for b in range(3)
    ]
    per_sample = scene_flow_metrics_per_sample(pc1, pred, gt, cameras)
    for key in METRIC_NAMES:
        expected = np.mean([s[key] for s in singles])
        assert batch[key] == pytest.approx(expected, rel=1e-6), key
        assert [p[key] for p in per_sample] == [s[key] for s in singles]


def test_bad_inputs():
    pc = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r'pred_flow.*\(N, 3\)'):
        scene_flow_metrics(pc, np.zeros((4, 2)), pc)
    with pytest.raises(ValueError, match='same shape'):
        scene_flow_metrics(pc, np.zeros((5, 3)), pc)
    with pytest.raises(ValueError, match='unknown camera'):
        scene_flow_metrics(pc + 1, pc, pc, camera='nuscenes')
    with pytest.raises(ValueError, match='2 cameras for a batch of 1'):
        scene_flow_metrics(pc + 1, pc, pc, camera=['ft3d', 'ft3d'])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_tensors():
    rng = np.random.default_rng(3)
    pc1 = torch.from_numpy(
        rng.uniform([-5, -1, 5], [5, 2, 30], (1, 16, 3)).astype(np.float32))
    gt = torch.randn(1, 16, 3)
    got = scene_flow_metrics(pc1.cuda(), gt.cuda() * 1.1, gt.cuda())
    ref = scene_flow_metrics(pc1, gt * 1.1, gt)
    assert got == ref
