"""tools/analysis_tools/kd_benchmark.py: configs, skip-done and the table
(the end-to-end run is too long for the suite; see the tool's docstring)."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from bpfn_test_utils import load_script

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
kd_benchmark = load_script(osp.join(REPO, 'tools', 'analysis_tools', 'kd_benchmark.py'), 'kd_benchmark')


def _run(tmp_path, student='wn4', variant='scratch', seed=0):
    return kd_benchmark.Run('full', student, variant, seed,
                            str(tmp_path / student / variant / f'seed{seed}'))


def _config(tmp_path, text: str) -> Config:
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def test_generated_configs(tmp_path):
    scratch = _config(tmp_path, kd_benchmark.training_config(
        _run(tmp_path), 'teacher.pth'))
    assert scratch.model.type == 'BiPointFlowNet'
    assert scratch.model.weightnet == 4 and scratch.randomness.seed == 0
    half_hint = _config(tmp_path, kd_benchmark.training_config(
        _run(tmp_path, 'half', 'hint', seed=2), '/x/teacher.pth'))
    assert half_hint.model.type == 'SceneFlowDistiller'
    assert half_hint.model.teacher_ckpt == '/x/teacher.pth'
    assert half_hint.model.student.width_mult == 0.125
    assert half_hint.model.student.weightnet == 16
    assert half_hint.model.teacher.width_mult == 0.25  # the demo model
    (loss, ) = half_hint.model.distill_losses
    assert loss.type == 'HintLoss' and loss.loss_weight == 0.3
    assert loss.adapter.type == 'ConvAdapter'  # 16 -> 32 channels
    assert half_hint.randomness.seed == 2
    wn4_ail = _config(tmp_path, kd_benchmark.training_config(
        _run(tmp_path, 'wn4', 'ail'), 't.pth'))
    assert [h.type for h in wn4_ail.custom_hooks][-1] == 'AILErrorRangeHook'
    assert 'adapter' not in wn4_ail.model.distill_losses[0]
    test_cfg = _config(tmp_path, kd_benchmark.student_test_config(
        _run(tmp_path, 'half', 'bihint')))
    assert test_cfg.model.type == 'BiPointFlowNet'
    assert test_cfg.model.width_mult == 0.125


def test_finished_runs_are_skipped(tmp_path, monkeypatch):
    run = _run(tmp_path)
    monkeypatch.setattr(kd_benchmark, '_run_tool',
                        lambda *a: pytest.fail('a finished run ran again'))
    spec = kd_benchmark._spec_hash(
        kd_benchmark.training_config(run, 't.pth'),
        kd_benchmark.student_test_config(run), '')
    (tmp_path / 'wn4' / 'scratch' / 'seed0').mkdir(parents=True)
    with open(osp.join(run.folder, 'result.json'), 'w') as f:
        json.dump(dict(spec=spec, metrics=dict(EPE3D=0.3)), f)
    assert kd_benchmark.execute(run, 't.pth', [], 1)['skipped']
    # Other settings: refused, not silently mixed into the table.
    with pytest.raises(RuntimeError, match='other settings'):
        kd_benchmark.execute(run, 't.pth', ['train_cfg.max_epochs=1'], 1)


def _record(student, variant, seed, epe, acc=0.1):
    return dict(regime='full', student=student, variant=variant, seed=seed,
                metrics=dict(EPE3D=epe, ACC3DS=acc), train_wall_s=60.0,
                test_wall_s=6.0, train_cpu_s=54.0, test_cpu_s=6.0)


def test_table_mean_std_and_gap_closed():
    records = [_record('wn4', 'scratch', s, e)
               for s, e in enumerate([0.30, 0.32, 0.34])]
    records += [_record('wn4', 'hint', s, e, 0.2)
                for s, e in enumerate([0.26, 0.28, 0.30])]
    teacher = dict(checkpoint=kd_benchmark.DEFAULT_TEACHER,
                   metrics=dict(EPE3D=0.22, ACC3DS=0.3),
                   zero_flow_EPE3D=0.85)
    table, data = kd_benchmark.summarize(records, teacher)
    lines = table.splitlines()
    scratch = [line for line in lines if '| WN4 | scratch |' in line][0]
    hint = [line for line in lines if '| WN4 | hint |' in line][0]
    assert '| 0, 1, 2 | 0.3200 ± 0.0200 |' in scratch
    # (0.32 - 0.28) / (0.32 - 0.22) = 0.4
    assert '| 0.2800 ± 0.0200 | 0.2000 ± 0.0000 | 0.40 |' in hint
    assert '1.1 / 1.0 min' in hint
    assert 'test EPE3D 0.2200' in table and 'zero flow: EPE3D 0.8500' in table
    row = data['regimes']['full'][1]
    assert row['gap_closed'] == pytest.approx(0.4)
    assert row['EPE3D_std'] == pytest.approx(0.02)


def _scarce(tmp_path, variant, student='wn4', **kwargs):
    run = kd_benchmark.Run('label_scarce', student, variant, 0,
                           str(tmp_path / variant))
    return _config(tmp_path, kd_benchmark.training_config(
        run, 't.pth', **kwargs))


def test_label_scarce_configs(tmp_path):
    from mmengine.registry import init_default_scope

    from bpfn.datasets import SyntheticSceneFlow, labeled_mask
    from bpfn.registry import DATASETS
    init_default_scope('bpfn')
    labelled = SyntheticSceneFlow(num_samples=200, num_points=2048,
                                  labeled_fraction=0.1,
                                  lazy_init=True).labeled_scenes().tolist()
    assert kd_benchmark.labeled_scenes(0.1) == labelled
    assert len(labelled) == 20
    # Scratch: the 20 labelled scenes alone, each 10 times: 200 samples per
    # epoch, the iterations of full supervision.
    scratch = _scarce(tmp_path, 'scratch')
    assert scratch.model.type == 'BiPointFlowNet'
    data = scratch.train_dataloader.dataset
    assert sorted(set(data.indices)) == labelled
    assert [data.indices.count(i) for i in labelled] == [10] * 20
    dataset = DATASETS.build(data)
    assert len(dataset) == 200 and labeled_mask(dataset).all()
    # KD variants: all 200 scenes, 10% labelled, plain batches (the mixing
    # sampler of kd_unlabeled.py switched off).
    for variant in ('output', 'hint', 'ail', 'output_selfsup'):
        cfg = _scarce(tmp_path, variant)
        assert cfg.model.type == 'SceneFlowDistiller'
        assert cfg.model.teacher_ckpt == 't.pth'
        assert cfg.train_dataloader.batch_sampler is None
        assert cfg.train_dataloader.dataset.labeled_fraction == 0.1
        assert cfg.train_dataloader.dataset.num_samples == 200
        assert 'indices' not in cfg.train_dataloader.dataset
    both = _scarce(tmp_path, 'output_selfsup')
    assert [e.type for e in both.model.distill_losses] == ['OutputKDLoss']
    assert [e.type for e in both.model.self_supervised_losses] == [
        'ChamferLoss', 'SmoothnessLoss', 'LaplacianLoss']
    # Self-supervised only: no teacher at all.
    selfsup = _scarce(tmp_path, 'selfsup')
    assert selfsup.model.teacher is None and 'teacher_ckpt' not in \
        selfsup.model
    assert selfsup.model.student.weightnet == 4
    assert len(selfsup.model.self_supervised_losses) == 3
    # A smaller budget: the labelled scenes of 16 (2), 1 epoch.
    small = _scarce(tmp_path, 'scratch', train_samples=16, epochs=1)
    assert small.train_cfg.max_epochs == 1
    assert sorted(set(small.train_dataloader.dataset.indices)) == \
        kd_benchmark.labeled_scenes(0.1, 16)
    assert len(small.train_dataloader.dataset.indices) == 16
    assert _scarce(tmp_path, 'ail', train_samples=16).train_dataloader \
        .dataset.num_samples == 16


def test_plan_runs_a_variant_in_its_regimes(tmp_path):
    args = kd_benchmark.parse_args(
        ['--regimes', 'full', 'label_scarce', '--students', 'wn4',
         '--variants', 'scratch', 'output', 'selfsup', 'output_selfsup',
         '--seeds', '0', '--out', str(tmp_path)])
    names = [run.name for run in kd_benchmark.plan(args)]
    assert names == [
        'full/wn4/scratch/seed0', 'full/wn4/output/seed0',
        'label_scarce/wn4/scratch/seed0', 'label_scarce/wn4/output/seed0',
        'label_scarce/wn4/selfsup/seed0',
        'label_scarce/wn4/output_selfsup/seed0']
    with pytest.raises(SystemExit):
        kd_benchmark.parse_args(['--epochs', '0'])


def test_label_scarce_table():
    records = [dict(_record('wn4', v, 0, e), regime='label_scarce')
               for v, e in (('scratch', 0.40), ('output', 0.30),
                            ('selfsup', 0.35))]
    teacher = dict(checkpoint=kd_benchmark.DEFAULT_TEACHER,
                   metrics=dict(EPE3D=0.20, ACC3DS=0.3),
                   zero_flow_EPE3D=0.85)
    table, data = kd_benchmark.summarize(records, teacher)
    assert '### label-scarce (GT on 10% of the scenes)' in table
    assert '| WN4 | scratch (labelled 10% only) | 0 | 0.4000 |' in table
    # (0.40 - 0.30) / (0.40 - 0.20) = 0.5, (0.40 - 0.35) / 0.20 = 0.25
    assert '| WN4 | output KD | 0 | 0.3000 | 0.1000 | 0.50 |' in table
    assert '| WN4 | self-supervised | 0 | 0.3500 | 0.1000 | 0.25 |' in table
    assert '### full supervision' not in table
    rows = data['regimes']['label_scarce']
    assert rows[0]['gap_closed'] is None
    assert [r['gap_closed'] for r in rows[1:]] == pytest.approx([0.5, 0.25])


def test_budget_is_stated_under_each_heading():
    assert kd_benchmark.budget_line() == (
        '10 epochs of 200 training scenes (500 iterations at batch 4), '
        '2048 points')
    budget = kd_benchmark.budget_line(epochs=5, train_samples=100)
    assert budget == ('5 epochs of 100 training scenes (125 iterations at '
                      'batch 4), 2048 points')
    records = [_record('wn4', 'scratch', 0, 0.4)]
    teacher = dict(checkpoint=kd_benchmark.DEFAULT_TEACHER,
                   metrics=dict(EPE3D=0.2, ACC3DS=0.3), zero_flow_EPE3D=0.85)
    table, _ = kd_benchmark.summarize(records, teacher, budget)
    assert f'GT on every training scene; every run: {budget}.' in table
