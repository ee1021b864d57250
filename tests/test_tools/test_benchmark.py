"""Tests of tools/analysis_tools/benchmark.py and gpu_check.py."""
import json
from pathlib import Path

import pytest

from bpfn_test_utils import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / 'tools' / 'analysis_tools'
TINY_MODEL = '''
default_scope = 'bpfn'
model = dict(type='BiPointFlowNet', num_points=[128, 64, 32, 16],
             feat_neighbors=8, flow_neighbors=8, estimator_neighbors=4,
             width_mult=0.25, estimator_channels=[16, 16],
             estimator_mlp=[16, 16])
'''


def load(name):
    return load_script(TOOLS / f'{name}.py', name)


def run_on_tiny_model(tmp_path, *options: str) -> tuple:
    """benchmark.py on a tiny model (256 points, 2 runs, 1 thread) with
    ``options``: its exit code and JSON report."""
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_MODEL)
    out_json = tmp_path / 'result.json'
    code = load('benchmark').main([
        str(config), *options, '--points', '256', '--runs', '2', '--warmup',
        '0', '--threads', '1', '--json', str(out_json)])
    return code, json.loads(out_json.read_text())


def test_compare_reference_prints_both_paths_and_ratios(tmp_path, capsys):
    code, report = run_on_tiny_model(tmp_path, '--compare-reference')
    out = capsys.readouterr().out
    assert code == 0
    assert 'threads: 1 (--threads)' in out
    assert '-> same' in out and 'sampling indices equal' in out
    assert 'forward (eval, no grad)' in out and 'training step' in out
    assert report['same_outputs'] is True
    rows = {(r['step'], r['path']): r for r in report['results']}
    assert set(rows) == {(s, p) for s in ('forward', 'train')
                         for p in ('bpfn', 'reference')}
    for row in rows.values():
        assert row['wall'] > 0 and row['cpu'] > 0 and row['peak'] > 0
    check = report['checks']['tiny']
    assert check['p99'] <= 1e-4 and check['fps_equal']


def test_ratios_to_the_teacher_are_taken_within_rounds():
    tool = load('benchmark')
    # The machine slowed down 3x in the second round; within each round the
    # student took half the teacher's wall time and 0.6 of its CPU time.
    teacher = dict(rounds=[(1.0, 2.0), (3.0, 6.0)])
    student = dict(rounds=[(0.5, 1.2), (1.5, 3.6)])
    assert tool.round_ratio(student, teacher) == pytest.approx((0.5, 0.6))
    # Every timed call of interleaved() is kept in order; the order turns
    # by one place each round (after one warm-up round in the given order).
    calls = []
    res = tool.interleaved({'a': lambda: calls.append('a'),
                            'b': lambda: calls.append('b')}, 3, 1, 'cpu')
    assert calls == ['a', 'b'] + ['a', 'b'] + ['b', 'a'] + ['a', 'b']
    assert len(res['a']['rounds']) == 3 and len(res['b']['rounds']) == 3
    # Groups run one after the other, each turning within itself.
    calls.clear()
    names = ['t', 's1', 's2', 'ref_t', 'ref_s1', 'ref_s2']
    fns = {n: (lambda n=n: calls.append(n)) for n in names}
    res = tool.interleaved(fns, 3, 0, 'cpu', [names[:3], names[3:]])
    assert calls == ['t', 's1', 's2', 'ref_t', 'ref_s1', 'ref_s2',
                     's1', 's2', 't', 'ref_s1', 'ref_s2', 'ref_t',
                     's2', 't', 's1', 'ref_s2', 'ref_t', 'ref_s1']
    assert all(len(res[n]['rounds']) == 3 for n in names)
    # Groups that leave a function out (or list one twice) are refused.
    for bad in ([names[:3]], [names, names[:1]]):
        with pytest.raises(ValueError, match='exactly once'):
            tool.interleaved(fns, 1, 0, 'cpu', bad)


def test_breakdown_times_the_forward_with_searches_replayed(
        tmp_path, capsys):
    code, report = run_on_tiny_model(tmp_path, '--breakdown')
    out = capsys.readouterr().out
    assert code == 0
    assert 'neighbour searches and farthest point sampling (the forward ' \
        'less the forward with them replayed' in out
    rows = {r['path']: r for r in report['results']}
    assert set(rows) == {'bpfn', 'searches replayed'}
    assert all(len(r['rounds']) == 2 and r['wall'] > 0 for r in rows.values())
    # Differences are taken within rounds: here the forward took 0.3 and
    # 0.9 s, 0.2 and 0.6 s of it without the searches.
    full = dict(rounds=[(0.3, 0.5), (0.9, 1.5)])
    replayed = dict(rounds=[(0.2, 0.3), (0.6, 0.9)])
    tool = load('benchmark')
    assert tool.round_difference(full, replayed) == pytest.approx((0.2, 0.4))
    with pytest.raises(SystemExit):
        tool.parse_args(['x.py', '--breakdown', '--steps', 'train'])


def test_onnxruntime_backend(tmp_path, capsys):
    pytest.importorskip('onnx', reason='--backend onnxruntime exports with '
                        'the optional package onnx')
    pytest.importorskip('onnxruntime', reason='--backend onnxruntime needs '
                        'the optional package onnxruntime')
    tool = load('benchmark')
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_MODEL)
    code = tool.main([str(config), '--backend', 'onnxruntime', '--points',
                      '256', '--runs', '2', '--warmup', '0', '--threads',
                      '1'])
    out = capsys.readouterr().out
    assert code == 0
    # A random scene of 256 points has no exact distance ties: no row of
    # the default path takes other neighbours.
    assert '-> same (default path p99' in out and ', 0 tie rows)' in out
    rows = [line.split() for line in out.splitlines()
            if line.startswith('tiny ')]
    assert [r[1] for r in rows] == ['PyTorch', 'onnxruntime']
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)


def test_threads_default_to_physical_cores(tmp_path, capsys):
    tool = load('benchmark')
    cores = tool.physical_cores()
    assert isinstance(cores, int) and cores >= 1
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_MODEL)
    import torch
    before = torch.get_num_threads()
    try:
        tool.main([str(config), '--points', '256', '--runs', '1',
                   '--warmup', '0'])
    finally:
        torch.set_num_threads(before)
    assert f'threads: {cores} (physical cores)' in capsys.readouterr().out


def test_arguments():
    tool = load('benchmark')
    with pytest.raises(SystemExit):
        tool.parse_args([])
    with pytest.raises(SystemExit):
        tool.parse_args(['x.py', '--threads', '0'])
    assert tool.parse_args(['x.py', '--compare-reference']).steps == 'both'
    assert tool.parse_args(['x.py', '--train-step']).steps == 'train'
    assert tool.parse_args(['--all']).steps == 'forward'
    configs = tool.config_list(tool.parse_args(['--all']))
    assert Path(configs[0]).name == 'bpfn_ft3d.py' and len(configs) == 6


def test_gpu_check_summary(tmp_path):
    tool = load('gpu_check')
    # The training runs' logs, as MMEngine writes them.
    scalars = tmp_path / 'train_fp32' / '20260101_000000' / 'vis_data'
    scalars.mkdir(parents=True)
    (scalars / 'scalars.json').write_text('\n'.join(
        json.dumps(dict(time=t, memory=m, step=i))
        for i, (t, m) in enumerate([(1.0, 900), (0.5, 1000), (0.25, 1000),
                                    (0.5, 1100)])))
    fp32 = tool.train_throughput(str(tmp_path / 'train_fp32'))
    # The first window (warm-up) is left out: median of 0.5, 0.25, 0.5 s.
    assert fp32 == dict(it_per_s=2.0, peak_memory_mib=1100, windows=3)
    (tmp_path / 'benchmark_b1.json').write_text(json.dumps(dict(
        same_outputs=True, results=[
            dict(step='forward', config='bpfn_ft3d', path='bpfn', wall=0.05,
                 peak=2**30),
            dict(step='forward', config='bpfn_ft3d', path='reference',
                 wall=0.2, peak=2**31),
            dict(step='forward', config='bpfn_ft3d',
                 path='searches replayed', wall=0.02, peak=2**30)])))
    steps = dict(gpu='Some GPU', torch='2.x', tests=dict(code=0),
                 benchmark_b1=dict(code=0), benchmark_b8=dict(code='timeout'),
                 train_fp32=dict(fp32, code=0),
                 train_amp=dict(it_per_s=None, peak_memory_mib=None,
                                code='timeout'))
    args = tool.parse_args(['--out-dir', str(tmp_path)])
    tool.write_summary(steps, str(tmp_path / 'summary.md'), args)
    summary = (tmp_path / 'summary.md').read_text()
    assert '# GPU check: Some GPU' in summary
    assert '| bpfn_ft3d | forward | 50.0 | 200.0 | 4.00x | 1.00 | 2.00 | ' \
        '20.0 |' in summary
    assert '| train_fp32 | 2.0 | 1100 | 0 |' in summary


def test_scene_from_a_sample_folder_and_a_tensor_file(tmp_path):
    # A folder of the HPLFlowNet layout: the flow is pc2 - pc1 of
    # corresponding rows, each cloud drawn independently (seed 0); a .pt
    # file with pc1, pc2 and gt_flow: taken as it is when it has exactly
    # --points points.
    np = pytest.importorskip('numpy')
    torch = pytest.importorskip('torch')
    tool = load('benchmark')
    rng = np.random.default_rng(3)
    pc1 = rng.random((500, 3)).astype(np.float32) * 10
    flow = rng.random((500, 3)).astype(np.float32) * 0.1
    sample = tmp_path / 'sample'
    sample.mkdir()
    np.save(sample / 'pc1.npy', pc1)
    np.save(sample / 'pc2.npy', pc1 + flow)
    inputs, samples = tool.scene_batch(str(sample), 2, 300, 'cpu')
    assert inputs['pc1'].shape == inputs['pc2'].shape == (2, 300, 3)
    assert torch.equal(inputs['pc1'][0], inputs['pc1'][1])
    rows1 = [int(np.flatnonzero((pc1 == p).all(1))[0])
             for p in inputs['pc1'][0].numpy()]
    assert len(set(rows1)) == 300  # drawn without replacement
    np.testing.assert_allclose(samples[0]['gt_flow'].numpy(), flow[rows1],
                               atol=1e-6)
    # pc2 is drawn on its own: not the rows of pc1.
    assert not torch.equal(inputs['pc2'][0] - inputs['pc1'][0],
                           samples[0]['gt_flow'])
    again, _ = tool.scene_batch(str(sample), 1, 300, 'cpu')
    assert torch.equal(again['pc1'][0], inputs['pc1'][0])  # seeded

    scene = dict(pc1=torch.from_numpy(pc1)[None],
                 pc2=torch.from_numpy(pc1 + flow)[None],
                 gt_flow=torch.from_numpy(flow)[None])
    torch.save(scene, tmp_path / 'scene.pt')
    inputs, samples = tool.scene_batch(str(tmp_path / 'scene.pt'), 1, 500,
                                       'cpu')
    assert torch.equal(inputs['pc1'], scene['pc1'])
    assert torch.equal(samples[0]['gt_flow'], scene['gt_flow'][0])


def test_scene_errors_name_the_file_and_what_was_expected(tmp_path):
    np = pytest.importorskip('numpy')
    torch = pytest.importorskip('torch')
    tool = load('benchmark')
    with pytest.raises(FileNotFoundError, match='pc1.npy'):
        tool.scene_batch(str(tmp_path), 1, 10, 'cpu')
    np.save(tmp_path / 'pc1.npy', np.zeros((20, 3), np.float32))
    np.save(tmp_path / 'pc2.npy', np.zeros((30, 3), np.float32))
    with pytest.raises(ValueError, match='corresponding rows'):
        tool.scene_batch(str(tmp_path), 1, 10, 'cpu')
    np.save(tmp_path / 'pc2.npy', np.zeros((20, 3), np.float32))
    with pytest.raises(ValueError, match='pc1 has 20 points, fewer than '
                       '--points 64'):
        tool.scene_batch(str(tmp_path), 1, 64, 'cpu')
    torch.save(dict(pc1=torch.zeros(5, 3)), tmp_path / 'partial.pt')
    with pytest.raises(ValueError, match="'pc2' is missing"):
        tool.scene_batch(str(tmp_path / 'partial.pt'), 1, 5, 'cpu')
    # Two clouds in one tensor are not one scene: refused, not merged.
    torch.save(dict(pc1=torch.zeros(2, 5, 3), pc2=torch.zeros(2, 5, 3),
                    gt_flow=torch.zeros(2, 5, 3)), tmp_path / 'batch.pt')
    with pytest.raises(ValueError, match=r'pc1 has shape \(2, 5, 3\), '
                       r'expected \(N, 3\) or \(1, N, 3\)'):
        tool.scene_batch(str(tmp_path / 'batch.pt'), 1, 5, 'cpu')


def test_compare_reference_on_a_scene(tmp_path, capsys):
    # The whole tool on a scene folder: it says which scene it timed, and
    # the JSON report records it.
    np = pytest.importorskip('numpy')
    tool = load('benchmark')
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_MODEL)
    rng = np.random.default_rng(4)
    pc1 = rng.random((400, 3)).astype(np.float32) * [20, 4, 30]
    sample = tmp_path / 'sample'
    sample.mkdir()
    np.save(sample / 'pc1.npy', pc1)
    np.save(sample / 'pc2.npy', pc1 + 0.05)
    out_json = tmp_path / 'result.json'
    code = tool.main([str(config), '--compare-reference', '--points', '256',
                      '--runs', '1', '--warmup', '0', '--threads', '1',
                      '--scene', str(sample), '--json', str(out_json)])
    out = capsys.readouterr().out
    assert code == 0 and f'scene: {sample}' in out and '-> same' in out
    assert json.loads(out_json.read_text())['scene'] == str(sample)
