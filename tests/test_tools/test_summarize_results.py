"""Tests of tools/analysis_tools/summarize_results.py."""
import json
from pathlib import Path

import pytest

from bpfn_test_utils import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'analysis_tools' / 'summarize_results.py'

BASELINE = {
    'FT3D': dict(EPE3D=0.028, ACC3DS=0.918, ACC3DR=0.978, Outliers3D=0.143,
                 EPE2D=1.582, ACC2D=0.929),
    'KITTI': dict(EPE3D=0.03, ACC3DS=0.92, ACC3DR=0.96, Outliers3D=0.141,
                  EPE2D=1.056, ACC2D=0.949),
}
STUDENT = {
    'FT3D': dict(EPE3D=0.0325, ACC3DS=0.902, ACC3DR=0.974, Outliers3D=0.163,
                 EPE2D=1.833, ACC2D=0.915),
    'KITTI': dict(EPE3D=0.0319, ACC3DS=0.923, ACC3DR=0.964, Outliers3D=0.140,
                  EPE2D=1.118, ACC2D=0.949),
}


def load_tool():
    return load_script(TOOL, 'summarize_results')


def write(path: Path, config: str, metrics: dict, **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(config=config, checkpoint='x.pth',
                                    metrics=metrics, **extra)))
    return path


def parse_rows(table: str) -> dict:
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        rows[tuple(cells[:2])] = cells[2:]
    return rows


def test_report_matches_json(tmp_path):
    tool = load_tool()
    a = write(tmp_path / 'a' / 'results.json', 'configs/bpfn/bpfn_ft3d.py',
              BASELINE)
    b = write(tmp_path / 'b' / 'results.json', 'configs/bpfn/bpfn-wn4.py',
              STUDENT, experiment='Weightnet=4')
    out = tmp_path / 'report.md'
    tool.main([str(a), str(b), '--out', str(out)])
    report = out.read_text(encoding='utf-8')
    assert '## bpfn_ft3d' in report and '## Weightnet=4' in report
    assert ('| Dataset | EPE3D(↓) | ACC3DS(↑) | ACC3DR(↑) | Outliers3D(↓) '
            '| EPE2D(↓) | ACC2D(↑) |') in report
    comparison = report.split('## Comparison')[1]
    table = '\n'.join(
        line for line in comparison.splitlines() if line.startswith('|'))
    rows = parse_rows(table)
    keys = ['EPE3D', 'ACC3DS', 'ACC3DR', 'Outliers3D', 'EPE2D', 'ACC2D']
    for name, metrics in (('bpfn_ft3d', BASELINE),
                          ('Weightnet=4', STUDENT)):
        for dataset, values in metrics.items():
            cells = rows[(dataset, name)]
            numbers = [float(c.strip('*')) for c in cells]
            assert numbers == pytest.approx([values[k] for k in keys])
    # Best per dataset and column in bold; ties both bold.
    assert rows[('FT3D', 'bpfn_ft3d')][0] == '**0.0280**'
    assert rows[('FT3D', 'Weightnet=4')][0] == '0.0325'
    assert rows[('KITTI', 'Weightnet=4')][3] == '**0.1400**'  # outliers
    assert rows[('KITTI', 'bpfn_ft3d')][5] == '**0.9490**'
    assert rows[('KITTI', 'Weightnet=4')][5] == '**0.9490**'


def test_folder_input_skips_other_json(tmp_path):
    tool = load_tool()
    write(tmp_path / 'run1' / 'results.json', 'c1.py', BASELINE)
    write(tmp_path / 'run2' / 'results.json', 'c1.py', STUDENT)
    (tmp_path / 'run1' / 'scalars.json').write_text('{"loss": 1.0}\n')
    results = tool.collect([str(tmp_path)])
    # Two runs of one config, the same checkpoint name and results file
    # name: their folders tell them apart.
    assert [r['name'] for r in results] == ['c1 (run1)', 'c1 (run2)']


def test_runs_of_one_config_named_by_work_dir(tmp_path):
    tool = load_tool()
    cfg = 'configs/demo/bpfn_synthetic.py'
    # What tools/test.py writes for the README's teacher and WN4 runs.
    a = write(tmp_path / 'teacher.json', cfg, BASELINE,
              experiment='bpfn_synthetic')
    b = write(tmp_path / 'wn4_scratch.json', cfg, STUDENT,
              experiment='bpfn_synthetic')
    for res, ckpt in ((a, 'work_dirs/bpfn_synthetic/best_EPE3D_epoch_10.pth'),
                      (b, 'work_dirs/wn4_scratch/epoch_10.pth')):
        data = json.loads(res.read_text())
        data['checkpoint'] = ckpt
        res.write_text(json.dumps(data))
    names = [r['name'] for r in tool.collect([str(a), str(b)])]
    assert names == ['bpfn_synthetic', 'bpfn_synthetic (wn4_scratch)']
    # --experiment names the files in order, over their own names.
    names = [r['name'] for r in tool.collect([str(a), str(b)],
                                             ['teacher', 'WN4 scratch'])]
    assert names == ['teacher', 'WN4 scratch']
    out = tmp_path / 'report.md'
    tool.main([str(a), str(b), '--experiment', 'teacher', 'WN4 scratch',
               '--out', str(out)])
    report = out.read_text(encoding='utf-8')
    assert '## teacher' in report and '## WN4 scratch' in report
    with pytest.raises(SystemExit, match='2 results file'):
        tool.main([str(a), str(b), '--experiment', 'teacher'])
    # Nothing tells two runs apart: numbered.
    c = write(tmp_path / 'p' / 'x' / 'r.json', 'c.py', BASELINE)
    d = write(tmp_path / 'q' / 'x' / 'r.json', 'c.py', STUDENT)
    names = [r['name'] for r in tool.collect([str(c), str(d)])]
    assert names == ['c', 'c #2']


def test_zero_flow_row_and_ratio(tmp_path):
    tool = load_tool()
    zero = {'FT3D': {'EPE3D': 0.56}, 'KITTI': {'EPE3D': 0.4}}
    a = write(tmp_path / 'a.json', 'base.py', BASELINE, zero_flow=zero)
    b = write(tmp_path / 'b.json', 'wn4.py', STUDENT, zero_flow=zero)
    report = tool.build_report(tool.collect([str(a), str(b)]))
    assert '- Zero-flow EPE3D: FT3D 0.5600, KITTI 0.4000' in report
    comparison = report.split('## Comparison')[1]
    lines = [ln for ln in comparison.splitlines() if ln.startswith('|')]
    assert lines[0].endswith('| ACC2D(↑) | EPE3D / zero flow |')
    rows = parse_rows('\n'.join(lines))
    # One zero-flow row per dataset, first in its block, EPE3D only; it
    # takes no bold.
    assert [ln.split('|')[2].strip() for ln in lines[2:]] == [
        'zero flow', 'base', 'wn4', 'zero flow', 'base', 'wn4']
    assert rows[('FT3D', 'zero flow')] == ['0.5600'] + ['-'] * 6
    assert rows[('KITTI', 'zero flow')] == ['0.4000'] + ['-'] * 6
    # EPE3D / zero flow: 0.028 / 0.56 = 0.05, 0.0325 / 0.56 = 0.0580...
    assert rows[('FT3D', 'base')][6] == '**0.0500**'
    assert rows[('FT3D', 'wn4')][6] == '0.0580'
    assert rows[('KITTI', 'base')][6] == '**0.0750**'  # 0.03 / 0.4
    assert float(rows[('KITTI', 'wn4')][6]) == pytest.approx(0.0319 / 0.4,
                                                            abs=1e-4)
    # Different zero flows under one dataset name are both shown, named.
    c = write(tmp_path / 'c.json', 'c.py', BASELINE,
              zero_flow={'FT3D': {'EPE3D': 0.7}})
    table = tool.comparison_table(tool.collect([str(a), str(c)]))
    assert '| FT3D | zero flow (base) | 0.5600 |' in table
    assert '| FT3D | zero flow (c) | 0.7000 |' in table
    # Without zero flow in the files: no row, no ratio column.
    e = write(tmp_path / 'e.json', 'e.py', BASELINE)
    table = tool.comparison_table(tool.collect([str(e)]))
    assert 'zero flow' not in table
    assert table.splitlines()[0].endswith('| ACC2D(↑) |')


def test_every_metric_key_is_carried(tmp_path):
    tool = load_tool()
    threeway = dict(BASELINE['FT3D'], EPE_FD=0.12, EPE_FS=0.02,
                    EPE_BS=0.01, ThreewayEPE=0.05, ACCnew=0.5,
                    num_samples=3824)
    a = write(tmp_path / 'a.json', 'a.py', {'Synthetic': threeway})
    b = write(tmp_path / 'b.json', 'b.py',
              {'Synthetic': dict(threeway, EPE_FD=0.1, ThreewayEPE=None,
                                 ACCnew=0.4)})
    results = tool.collect([str(a), str(b)])
    assert [c[0] for c in tool.metric_columns(results)] == [
        'EPE3D', 'ACC3DS', 'ACC3DR', 'Outliers3D', 'EPE2D', 'ACC2D',
        'EPE_FD', 'EPE_FS', 'EPE_BS', 'ThreewayEPE', 'ACCnew']
    table = tool.comparison_table(results)
    assert ('| EPE_FD(↓) | EPE_FS(↓) | EPE_BS(↓) | ThreewayEPE(↓) | '
            'ACCnew(↑) |') in table.splitlines()[0]
    rows = parse_rows(table)
    assert rows[('Synthetic', 'a')][6:] == [
        '0.1200', '**0.0200**', '**0.0100**', '**0.0500**', '**0.5000**']
    assert rows[('Synthetic', 'b')][6:] == [
        '**0.1000**', '**0.0200**', '**0.0100**', '-', '0.4000']
    bad = write(tmp_path / 'bad.json', 'c.py', {'S': dict(EPE3D='low')})
    with pytest.raises(tool.ResultsFormatError,
                       match=r'metrics\.S\.EPE3D must be a number'):
        tool.load_results(str(bad))


def test_schema_errors(tmp_path):
    tool = load_tool()
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(config='c.py', metrics={})))
    with pytest.raises(tool.ResultsFormatError, match='checkpoint'):
        tool.load_results(str(bad))
    with pytest.raises(FileNotFoundError):
        tool.collect([str(tmp_path / 'missing.json')])
