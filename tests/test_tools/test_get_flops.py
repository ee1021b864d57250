"""Tests of tools/analysis_tools/get_flops.py (the counting itself:
tests/test_analysis/test_flops.py)."""
from pathlib import Path

import pytest

from bpfn_test_utils import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'analysis_tools' / 'get_flops.py'


def load_tool():
    return load_script(TOOL, 'get_flops')


def test_tool_single_config_and_table(capsys):
    tool = load_tool()
    tool.main([str(REPO_ROOT / 'configs' / 'bpfn' / 'bpfn-wn4_ft3d.py'),
               '--points', '2048'])
    out = capsys.readouterr().out
    assert 'FLOPs (published convention)' in out
    assert '2.73M (2,733,852)' in out
    table = tool.markdown_table({
        'A': dict(flops=13.36e9, flops_all=14.82e9, params=7_958_604),
        'B': dict(flops=9.365e9, flops_all=10.52e9, params=4_475_436)
    })
    lines = table.splitlines()
    assert lines[0] == '| | A | B |'
    assert lines[2] == '| FLOPs | 13.36G | 9.365G |'
    assert lines[4] == '| Param | 7.96M | 4.48M |'


def test_tool_needs_a_config():
    with pytest.raises(SystemExit):
        load_tool().parse_args([])


STUDENT_PARAMS = {'wn4': 2_733_852, 'wn48': 3_857_356, 'wn8': 4_475_436,
                  'half': 2_016_892, 'declinear': 5_858_194}


@pytest.mark.parametrize('config', sorted(
    p.name for p in (REPO_ROOT / 'configs' / 'kd').glob('*.py')))
def test_every_kd_config_counts_its_student(config, monkeypatch):
    """get_flops.py counts the student of every distiller config (meta-KD's
    included) without building the teacher or reading its checkpoint,
    none of which exists here."""
    tool = load_tool()
    counted = {}

    def fake_count(model, points, exact_fps=False):
        counted['params'] = sum(p.numel() for p in model.parameters())
        counted['type'] = type(model).__name__
        return counted

    monkeypatch.setattr(tool, 'count_flops', fake_count)
    tool.count_config(str(REPO_ROOT / 'configs' / 'kd' / config))
    student = config.rsplit('_', 1)[1][:-3]  # hint_wn48.py -> wn48
    assert counted['type'] == 'BiPointFlowNet'
    assert counted['params'] == STUDENT_PARAMS[student], config
