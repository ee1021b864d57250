"""Tests of tools/analysis_tools/summarize_results.py."""
import importlib.util
import json
from pathlib import Path

import pytest

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
    spec = importlib.util.spec_from_file_location('summarize_results', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    assert [r['name'] for r in results] == ['c1', 'c1 #2']


def test_schema_errors(tmp_path):
    tool = load_tool()
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(config='c.py', metrics={})))
    with pytest.raises(tool.ResultsFormatError, match='checkpoint'):
        tool.load_results(str(bad))
    with pytest.raises(FileNotFoundError):
        tool.collect([str(tmp_path / 'missing.json')])
