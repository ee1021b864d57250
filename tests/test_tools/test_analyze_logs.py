"""Tests of tools/analysis_tools/analyze_logs.py."""
import json
from pathlib import Path

import pytest

from bpfn_test_utils import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'analysis_tools' / 'analyze_logs.py'


def load_tool():
    return load_script(TOOL, 'analyze_logs')


def write_log(work_dir: Path, scale: float) -> Path:
    path = work_dir / '20240101_000000' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    lines = []
    for epoch in (1, 2):
        for it in range(1, 4):
            step = (epoch - 1) * 3 + it
            lines.append(dict(lr=1e-3, data_time=0.01, loss=scale / step,
                              time=0.1 * epoch, epoch=epoch, iter=step,
                              memory=10, step=step))
        lines.append(dict(EPE3D=scale * 0.1 / epoch, ACC3DS=0.5,
                          data_time=0.01, time=0.05, step=epoch))
    path.write_text('\n'.join(json.dumps(line) for line in lines) + '\n')
    return path


def test_load_and_curve(tmp_path):
    tool = load_tool()
    log = write_log(tmp_path / 'a', 1.0)
    train, val = tool.load_log(str(log))
    assert len(train) == 6 and len(val) == 2
    xs, ys = tool.curve(val, 'EPE3D')
    assert list(xs) == [1, 2] and ys == pytest.approx([0.1, 0.05])
    assert tool.find_log(str(tmp_path / 'a')) == str(log)


def test_plot_curve_two_runs(tmp_path):
    tool = load_tool()
    logs = [str(write_log(tmp_path / n, s)) for n, s in (('a', 1), ('b', 2))]
    out = tmp_path / 'curves.png'
    tool.main(['plot_curve', *logs, '--keys', 'loss', 'EPE3D', '--legend',
               'teacher', 'student', '--out', str(out)])
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with pytest.raises(KeyError, match='nope'):
        tool.plot_curve(logs, ['nope'])
    with pytest.raises(ValueError, match='legend'):
        tool.plot_curve(logs, ['loss'], legend=['only one'])


def test_cal_train_time(tmp_path, capsys):
    tool = load_tool()
    log = str(write_log(tmp_path / 'a', 1.0))
    stats = tool.cal_train_time([log])[0]
    assert stats['slowest_epoch'] == 2 and stats['fastest_epoch'] == 1
    assert stats['mean'] == pytest.approx(0.15)
    assert 'average iter time: 0.1500 s/iter' in capsys.readouterr().out
