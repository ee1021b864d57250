"""FlowVisualizationHook in a small real test run."""
import pytest
from mmengine.runner import Runner

from bpfn.datasets import flow_collate
from bpfn.engine.hooks import FlowVisualizationHook


def build_runner(work_dir, out_dir, interval=1):
    pipeline = [
        dict(type='RandomSampleFlowPoints', num_points=256,
             deterministic=True),
        dict(type='PackFlowInputs')
    ]
    return Runner(
        model=dict(type='BiPointFlowNet', num_points=[128, 64, 32, 16],
                   feat_neighbors=8, flow_neighbors=8, width_mult=0.25),
        work_dir=str(work_dir),
        test_dataloader=dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type=flow_collate),
            dataset=dict(type='SyntheticSceneFlow', split='test',
                         num_samples=4, num_points=256, test_mode=True,
                         pipeline=pipeline)),
        test_cfg=dict(),
        test_evaluator=dict(type='SceneFlowMetric'),
        custom_hooks=[dict(type='FlowVisualizationHook',
                           out_dir=str(out_dir), interval=interval)],
        default_scope='bpfn',
        experiment_name='flow_vis_hook_test')


@pytest.mark.parametrize('interval,expected', [
    (1, ['test_000000.png', 'test_000001.png', 'test_000002.png',
         'test_000003.png']),
    (2, ['test_000002.png', 'test_000003.png'])])  # the 2nd batch of 2
def test_hook_writes_pngs(tmp_path, interval, expected):
    out_dir = tmp_path / 'vis'
    runner = build_runner(tmp_path / 'work', out_dir, interval)
    runner.test()
    pngs = sorted(p.name for p in out_dir.glob('*.png'))
    assert pngs == expected
    for png in out_dir.glob('*.png'):
        assert png.read_bytes()[:4] == b'\x89PNG'
        assert png.stat().st_size < 200 * 1024


def test_hook_arguments():
    with pytest.raises(ValueError, match='interval'):
        FlowVisualizationHook('x', interval=0)
    with pytest.raises(ValueError, match='out_dir'):
        FlowVisualizationHook('')
    with pytest.raises(ValueError, match='max_error'):
        FlowVisualizationHook('x', max_error=0)
