"""tools/analysis_tools/kd_benchmark.py: configs, skip-done and the table
(the end-to-end run is too long for the suite; see the tool's docstring)."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'kd_benchmark', osp.join(REPO, 'tools', 'analysis_tools',
                             'kd_benchmark.py'))
kd_benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kd_benchmark)


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
