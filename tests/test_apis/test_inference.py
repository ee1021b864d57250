"""Full-resolution inference through the config's test pipeline."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from bpfn.apis import (inference_pipeline, inference_scene, init_model,
                       upsample_flow)

MODEL = dict(type='BiPointFlowNet', num_points=[64, 32, 16, 8],
             feat_neighbors=8, flow_neighbors=8, width_mult=0.25)


def test_upsample_keeps_given_rows_and_interpolates():
    points = torch.tensor([[0., 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0],
                           [1.5, 0, 0]])
    rows = torch.tensor([0, 1, 2, 3])
    flow = torch.tensor([[0., 0, 0], [1, 0, 0], [4, 0, 0], [9, 0, 0]])
    out = upsample_flow(points, rows, flow, chunk=1)
    torch.testing.assert_close(out[:4], flow)
    # Point 4 sits 0.5 from rows 1 and 2 and 1.5 from rows 0 and 3 (row 0
    # comes first of those): weights 3/7, 3/7, 1/7 on 1, 4 and 0.
    assert out[4, 0].item() == pytest.approx((3 * 1 + 3 * 4 + 0) / 7)
    big = torch.rand(50, 3)
    some = torch.arange(0, 50, 2)
    spread = upsample_flow(big, some, big[some] * 0.1, chunk=7)
    assert spread.shape == (50, 3) and torch.isfinite(spread).all()
    torch.testing.assert_close(spread[some], big[some] * 0.1)


def test_pipeline_of_the_config():
    pipeline = [dict(type='LoadSceneFlowNpy'),
                dict(type='DepthFilter', max_depth=10.0),
                dict(type='RandomSampleFlowPoints', num_points=64,
                     deterministic=True),
                dict(type='PackFlowInputs')]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        type='ConcatDataset', datasets=[dict(pipeline=pipeline),
                                        dict(pipeline=[])]))))
    steps = inference_pipeline(cfg, num_points=128)
    assert [s['type'] for s in steps] == [
        'DepthFilter', 'RandomSampleFlowPoints', 'PackFlowInputs']
    assert steps[1]['num_points'] == 128
    assert pipeline[2]['num_points'] == 64  # the config is left as it was
    assert inference_pipeline(Config()) == [
        dict(type='RandomSampleFlowPoints', num_points=8192,
             deterministic=True),
        dict(type='PackFlowInputs')]


def test_inference_scene_follows_the_test_pipeline():
    torch.manual_seed(0)
    cfg = Config(dict(default_scope='bpfn', model=MODEL,
                      test_dataloader=dict(dataset=dict(pipeline=[
                          dict(type='DepthFilter', max_depth=10.0),
                          dict(type='RandomSampleFlowPoints', num_points=96,
                               deterministic=True),
                          dict(type='PackFlowInputs')]))))
    model = init_model(cfg)
    rng = np.random.default_rng(0)
    pc1 = rng.uniform([-3, -1, 1], [3, 1, 14], (300, 3)).astype(np.float32)
    pc2 = pc1 + np.float32(0.1)
    out = inference_scene(model, pc1, pc2)
    rows = out['rows']
    assert out['flow'].shape == (300, 3) and rows.shape == (96, )
    # Only points the depth filter keeps are fed (a pair without ground
    # truth: pc1 rows by their own depth).
    kept = np.nonzero(pc1[:, 2] < 10)[0]
    assert set(rows.tolist()) <= set(kept.tolist())
    torch.testing.assert_close(out['flow'][rows], out['sampled_flow'])
    far = torch.from_numpy(pc1[:, 2] >= 10)
    assert far.any() and torch.isfinite(out['flow'][far]).all()
    # Deterministic: the same points and flows on a second call.
    again = inference_scene(model, pc1, pc2)
    assert torch.equal(again['rows'], rows)
    assert torch.equal(again['flow'], out['flow'])
