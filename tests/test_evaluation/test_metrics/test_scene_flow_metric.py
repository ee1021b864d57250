"""Tests of bpfn/evaluation/metrics/scene_flow_metric.py."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from torch.utils.data import DataLoader

from bpfn.datasets import SyntheticSceneFlow, flow_collate
from bpfn.evaluation import (METRIC_NAMES, SceneFlowMetric,
                             format_metrics_table, scene_flow_metrics)
from bpfn.registry import METRICS

KITTI_CAMERA = dict(P_rect_02=[[721.5377, 0.0, 609.5593, 44.85728],
                               [0.0, 721.5377, 172.854, 0.2163791],
                               [0.0, 0.0, 1.0, 0.002745884]])

HEADER = ('| Dataset | EPE3D(↓) | ACC3DS(↑) | ACC3DR(↑) | '
          'Outliers3D(↓) | EPE2D(↓) | ACC2D(↑) |')


def make_sample(rng, dataset, idx, camera='ft3d', noise=0.1, num=48):
    pc1 = rng.uniform([-5, -1, 5], [5, 2, 30], (num, 3)).astype(np.float32)
    gt = rng.normal(0, 0.5, (num, 3)).astype(np.float32)
    pred = gt + rng.normal(0, noise, (num, 3)).astype(np.float32)
    return dict(
        pc1=torch.from_numpy(pc1),
        pred_flow=torch.from_numpy(pred),
        gt_flow=torch.from_numpy(gt),
        sample_idx=idx,
        sample_name=f'{dataset}_{idx}',
        dataset=dataset,
        camera=camera)


def expected_mean(samples):
    per = [
        scene_flow_metrics(s['pc1'], s['pred_flow'], s['gt_flow'], s['camera'])
        for s in samples
    ]
    return {k: float(np.mean([p[k] for p in per])) for k in METRIC_NAMES}


def zero_flow_mean(samples):
    """Mean over the samples of the EPE3D of a zero prediction."""
    return float(np.mean([s['gt_flow'].norm(dim=-1).mean().item()
                          for s in samples]))


def test_two_datasets_give_rows_and_dataset_keys():
    rng = np.random.default_rng(0)
    ft3d = [make_sample(rng, 'FT3D', i, noise=0.05) for i in range(3)]
    kitti = [
        make_sample(rng, 'KITTI', i, KITTI_CAMERA, noise=0.3) for i in range(2)
    ]
    metric = METRICS.build(dict(type='SceneFlowMetric'))
    metric.process({}, ft3d[:2])
    metric.process({}, [ft3d[2], kitti[0]])
    metric.process({}, kitti[1:])
    results = metric.evaluate(5)
    exp_ft3d, exp_kitti = expected_mean(ft3d), expected_mean(kitti)
    # Every dataset's keys, and the first dataset's EPE3D for save_best.
    assert set(results) == {'EPE3D'} | {
        f'{d}/{k}'
        for d in ('FT3D', 'KITTI')
        for k in (*METRIC_NAMES, 'zero_flow_EPE3D')
    }
    assert results['EPE3D'] == results['FT3D/EPE3D']
    for key in METRIC_NAMES:
        assert results[f'FT3D/{key}'] == pytest.approx(exp_ft3d[key],
                                                       rel=1e-9)
        assert results[f'KITTI/{key}'] == pytest.approx(
            exp_kitti[key], rel=1e-9)
    assert results['KITTI/EPE3D'] > results['FT3D/EPE3D']
    # The zero-flow baseline of each dataset, from the same samples.
    assert results['FT3D/zero_flow_EPE3D'] == pytest.approx(
        zero_flow_mean(ft3d), rel=1e-6)
    assert results['KITTI/zero_flow_EPE3D'] == pytest.approx(
        zero_flow_mean(kitti), rel=1e-6)


def test_single_dataset_keys():
    rng = np.random.default_rng(1)
    samples = [make_sample(rng, 'Synthetic', i) for i in range(4)]
    metric = SceneFlowMetric()
    metric.process({}, samples)
    results = metric.evaluate(4)
    assert set(results) == {'EPE3D'} | {
        f'Synthetic/{k}' for k in (*METRIC_NAMES, 'zero_flow_EPE3D')}
    exp = expected_mean(samples)
    assert results['EPE3D'] == pytest.approx(exp['EPE3D'], rel=1e-9)
    for key in METRIC_NAMES:
        assert results[f'Synthetic/{key}'] == pytest.approx(exp[key],
                                                            rel=1e-9)


def test_duplicates_from_padding_are_counted_once():
    rng = np.random.default_rng(2)
    samples = [make_sample(rng, 'FT3D', i) for i in range(5)]
    metric = SceneFlowMetric()
    clean = metric.compute_metrics([
        dict(
            dataset='FT3D',
            sample_idx=i,
            sample_name='',
            metrics=scene_flow_metrics(s['pc1'], s['pred_flow'], s['gt_flow']),
            zero_flow=s['gt_flow'].norm(dim=-1).mean().item())
        for i, s in enumerate(samples)
    ])
    # Two ranks with a padding sampler: rank 0 gets 0, 2, 4 and rank 1 gets
    # 1, 3 and a repeat of 0; gathered results interleave the ranks.
    metric.process({}, [samples[0], samples[2], samples[4]])
    metric.process({}, [samples[1], samples[3], samples[0]])
    gathered = metric.results[0::3] + metric.results[1::3] + \
        metric.results[2::3]
    padded = metric.compute_metrics(gathered)
    assert padded == clean
    assert padded['EPE3D'] == pytest.approx(expected_mean(samples)['EPE3D'])


def test_evaluate_is_deterministic_and_order_free():
    rng = np.random.default_rng(3)
    samples = [make_sample(rng, 'FT3D', i) for i in range(6)]
    first, second = SceneFlowMetric(), SceneFlowMetric()
    first.process({}, samples)
    second.process({}, samples[::-1])
    assert first.evaluate(6) == second.evaluate(6)


def test_format_metrics_table_layout():
    table = format_metrics_table({
        'FT3D':
        dict(
            EPE3D=0.028,
            ACC3DS=0.918,
            ACC3DR=0.978,
            Outliers3D=0.143,
            EPE2D=1.582,
            ACC2D=0.929),
        'KITTI':
        dict(
            EPE3D=0.03,
            ACC3DS=0.92,
            ACC3DR=0.96,
            Outliers3D=0.141,
            EPE2D=1.056,
            ACC2D=0.949),
    })
    lines = table.splitlines()
    assert lines[1] == HEADER
    assert lines[3] == ('| FT3D    | 0.0280   | 0.9180    | 0.9780    | '
                        '0.1430        | 1.5820   | 0.9290   |')
    assert lines[4].startswith('| KITTI   | 0.0300   | 0.9200    |')
    assert len(lines) == 6  # rule, header, rule, 2 rows, rule


def test_table_is_logged(monkeypatch):
    logged = []
    monkeypatch.setattr(
        'bpfn.evaluation.metrics.scene_flow_metric.print_log',
        lambda msg, logger=None, **kw: logged.append(msg))
    rng = np.random.default_rng(4)
    metric = SceneFlowMetric()
    metric.process({}, [make_sample(rng, 'FT3D', 0)])
    metric.evaluate(1)
    assert len(logged) == 1 and HEADER in logged[0]
    assert 'FT3D: 1 samples' in logged[0]
    # The zero-flow baseline follows the table, with the model's ratio.
    assert 'Zero-flow baseline (EPE3D of predicting no motion):' in logged[0]
    assert '  FT3D: zero-flow EPE3D ' in logged[0]
    assert '(model/zero = ' in logged[0]


def test_missing_prediction_is_a_clear_error():
    rng = np.random.default_rng(5)
    sample = make_sample(rng, 'FT3D', 0)
    del sample['pred_flow']
    with pytest.raises(KeyError, match="no 'pred_flow'"):
        SceneFlowMetric().process({}, [sample])


def test_zero_flow_through_evaluator_and_dataloader():
    dataset = SyntheticSceneFlow(
        num_samples=4,
        num_points=512,
        split='val',
        test_mode=True,
        pipeline=[
            dict(type='RandomSampleFlowPoints', num_points=256),
            dict(type='PackFlowInputs')
        ])
    loader = DataLoader(dataset, batch_size=2, collate_fn=flow_collate)
    evaluator = Evaluator(SceneFlowMetric())
    norms = []
    for batch in loader:
        outputs = []
        for b, sample in enumerate(batch['data_samples']):
            out = dict(sample)
            out['pc1'] = batch['inputs']['pc1'][b]
            out['pred_flow'] = torch.zeros_like(out['gt_flow'])
            norms.append(out['gt_flow'].norm(dim=1).mean().item())
            outputs.append(out)
        evaluator.process(outputs, batch)
    results = evaluator.evaluate(len(dataset))
    assert results['EPE3D'] == pytest.approx(np.mean(norms), rel=1e-5)
    assert results['Synthetic/ACC3DS'] < 0.1
    # A zero prediction scores the zero-flow baseline.
    assert results['Synthetic/zero_flow_EPE3D'] == pytest.approx(
        results['EPE3D'], rel=1e-6)


# Threeway EPE ------------------------------------------------------------
def labelled_sample(idx, errors, labels, residuals, dataset='Synthetic'):
    """A sample whose points have the given EPE, label and compensated
    motion (m per 0.1 s frame); the ego flow is 1 m forward."""
    num = len(errors)
    ego = np.tile(np.float32([0.0, 0.0, 1.0]), (num, 1))
    gt = ego + np.float32(residuals)
    pred = gt + np.stack([np.zeros(num), errors, np.zeros(num)],
                         1).astype(np.float32)
    pc1 = np.tile(np.float32([1.0, 0.5, 10.0]), (num, 1))
    return dict(
        pc1=torch.from_numpy(pc1),
        pred_flow=torch.from_numpy(pred),
        gt_flow=torch.from_numpy(gt),
        pc1_label=torch.tensor(labels),
        ego_flow=torch.from_numpy(ego),
        frame_interval=0.1,
        sample_idx=idx,
        sample_name=f'{dataset}_{idx}',
        dataset=dataset,
        camera='ft3d')


MOVE, STILL = [0.2, 0.0, 0.0], [0.0, 0.0, 0.0]


def test_threeway_pools_points_over_samples():
    # Sample 0: FD error 0.2 (one point), FS 0.1, BS 0.05 and 0.15.
    a = labelled_sample(0, [0.2, 0.1, 0.05, 0.15], [0, 1, -1, -1],
                        [MOVE, STILL, STILL, STILL])
    # Sample 1: three FD points of error 0.6, FS 0.3, BS 0.4.
    b = labelled_sample(1, [0.6, 0.6, 0.6, 0.3, 0.4], [2, 2, 2, 0, -1],
                        [MOVE, MOVE, MOVE, STILL, STILL])
    metric = SceneFlowMetric()
    metric.process({}, [a, b])
    results = metric.evaluate(2)
    # Means over all points of the dataset, not of per-sample means:
    # FD (0.2 + 3 * 0.6) / 4 = 0.5 (the per-sample mean would be 0.4).
    assert results['Synthetic/EPE_FD'] == pytest.approx(0.5, abs=1e-6)
    assert results['Synthetic/EPE_FS'] == pytest.approx((0.1 + 0.3) / 2,
                                                        abs=1e-6)
    assert results['Synthetic/EPE_BS'] == pytest.approx(
        (0.05 + 0.15 + 0.4) / 3, abs=1e-6)
    assert results['Synthetic/ThreewayEPE'] == pytest.approx(
        (0.5 + 0.2 + 0.2) / 3, abs=1e-6)
    assert set(results) == {'EPE3D'} | {
        f'Synthetic/{k}' for k in (*METRIC_NAMES, 'zero_flow_EPE3D',
                                   'EPE_FD', 'EPE_FS', 'EPE_BS',
                                   'ThreewayEPE')}


def test_threeway_is_unavailable_without_labels(monkeypatch):
    logged = []
    monkeypatch.setattr(
        'bpfn.evaluation.metrics.scene_flow_metric.print_log',
        lambda msg, logger=None, **kw: logged.append(msg))
    rng = np.random.default_rng(6)
    synthetic = labelled_sample(0, [0.2, 0.1, 0.05], [0, 0, -1],
                                [MOVE, STILL, STILL])
    kitti = make_sample(rng, 'KITTI', 0, KITTI_CAMERA)
    metric = SceneFlowMetric()
    for _ in range(2):  # two validation rounds
        metric.process({}, [synthetic, kitti])
        results = metric.evaluate(2)
        assert results['Synthetic/ThreewayEPE'] == pytest.approx(
            (0.2 + 0.1 + 0.05) / 3, abs=1e-6)
        assert not any(k.startswith('KITTI/EPE_') or k == 'KITTI/ThreewayEPE'
                       for k in results)  # left out, not zero
    table = logged[0].splitlines()
    assert table[2].endswith('| EPE_FD(↓) | EPE_FS(↓) | EPE_BS(↓) | '
                             'ThreewayEPE(↓) |')
    assert table[5].startswith('| KITTI ') and table[5].endswith(
        '| -         | -         | -         | -              |')
    note = ('Threeway EPE not available for KITTI: 0 of 1 samples carry '
            'per-point labels (pc1_label, ego_flow, frame_interval)')
    assert note in logged[0] and note not in logged[1]  # said once
    assert ('Threeway EPE of Synthetic: points per class FD 1, FS 1, BS 1'
            in logged[1])


def test_threeway_without_a_class_has_no_mean(monkeypatch):
    logged = []
    monkeypatch.setattr(
        'bpfn.evaluation.metrics.scene_flow_metric.print_log',
        lambda msg, logger=None, **kw: logged.append(msg))
    still = labelled_sample(0, [0.1, 0.3], [0, -1], [STILL, STILL])
    metric = SceneFlowMetric()
    metric.process({}, [still])
    results = metric.evaluate(1)
    assert 'Synthetic/EPE_FD' not in results
    assert 'Synthetic/ThreewayEPE' not in results
    assert results['Synthetic/EPE_FS'] == pytest.approx(0.1, abs=1e-6)
    assert 'no foreground dynamic point, so no ThreewayEPE' in logged[0]


def test_unlabelled_sample_is_refused():
    rng = np.random.default_rng(7)
    sample = make_sample(rng, 'UnlabeledScans', 3)
    del sample['gt_flow']
    with pytest.raises(KeyError) as info:
        SceneFlowMetric().process({}, [sample])
    msg = info.value.args[0]
    assert ("sample 'UnlabeledScans_3' (dataset 'UnlabeledScans', "
            'sample_idx 3) has no ground-truth flow (gt_flow): validation '
            'and testing need ground truth') in msg


def test_threeway_through_pipeline_and_model_predict():
    # Labels go from the synthetic scenes through the transforms,
    # PackFlowInputs and the model's predict to the metric.
    from bpfn.registry import MODELS
    dataset = SyntheticSceneFlow(
        num_samples=2,
        num_points=512,
        split='val',
        test_mode=True,
        pipeline=[
            dict(type='DepthFilter', max_depth=30.0),
            dict(type='RandomSampleFlowPoints', num_points=128),
            dict(type='PackFlowInputs')
        ])
    batch = flow_collate([dataset[0], dataset[1]])
    model = MODELS.build(
        dict(
            type='BiPointFlowNet',
            num_points=[32, 16, 16, 8],
            feat_neighbors=4,
            flow_neighbors=4,
            estimator_neighbors=4,
            width_mult=0.25,
            estimator_channels=[32, 32],
            estimator_mlp=[32, 16])).eval()
    with torch.no_grad():
        outputs = model(**batch, mode='predict')
    metric = SceneFlowMetric()
    metric.process(batch, outputs)
    results = metric.evaluate(2)
    pooled = {c: [0.0, 0] for c in range(3)}
    for out in outputs:
        gt, pred = out['gt_flow'].numpy(), out['pred_flow'].numpy()
        label, ego = out['pc1_label'].numpy(), out['ego_flow'].numpy()
        assert out['frame_interval'] == 0.1
        # Static background moves with the sensor: rows stayed aligned.
        np.testing.assert_allclose(gt[label == -1], ego[label == -1],
                                   atol=1e-5)
        dynamic = np.linalg.norm(gt - ego, axis=1) >= 0.05
        err = np.linalg.norm(gt - pred, axis=1)
        for c, mask in enumerate([(label >= 0) & dynamic,
                                  (label >= 0) & ~dynamic,
                                  (label < 0) & ~dynamic]):
            pooled[c][0] += err[mask].sum()
            pooled[c][1] += mask.sum()
    assert all(n > 0 for _, n in pooled.values())
    expected = [s / n for s, n in pooled.values()]
    for key, value in zip(('EPE_FD', 'EPE_FS', 'EPE_BS'), expected):
        assert results[f'Synthetic/{key}'] == pytest.approx(value, rel=1e-5)
    assert results['Synthetic/ThreewayEPE'] == pytest.approx(
        np.mean(expected), rel=1e-5)
