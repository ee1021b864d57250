"""Tests of tools/misc/print_config.py."""
import json
from pathlib import Path

import pytest
from mmengine.config import Config

from bpfn_test_utils import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'misc' / 'print_config.py'


def load_tool():
    return load_script(TOOL, 'print_config')


def test_prints_merged_config(capsys, repo_root):
    tool = load_tool()
    config = str(repo_root / 'configs' / 'demo' / 'kd_hint.py')
    tool.main([config, '--cfg-options', 'model.student.weightnet=8',
               'train_cfg.max_epochs=3'])
    text = capsys.readouterr().out
    assert text.startswith('Config:\n')
    printed = Config.fromstring(text[len('Config:\n'):], '.py')
    # Keys of the leaf, of its _base_ files (the demo teacher config and
    # the schedule and runtime bases under it) and the overrides.
    assert printed.model.type == 'SceneFlowDistiller'
    assert printed.model.teacher_ckpt == 'resources/bpfn_synthetic_teacher.pth'
    assert printed.model.student.weightnet == 8
    assert printed.model.teacher.width_mult == 0.25
    assert printed.model.teacher.num_points == [512, 128, 64, 16]
    assert printed.train_cfg.max_epochs == 3
    assert printed.test_dataloader.dataset.type == 'SyntheticSceneFlow'
    assert printed.default_scope == 'bpfn'
    assert printed.to_dict() == tool.merged_config(
        config, {'model.student.weightnet': 8,
                 'train_cfg.max_epochs': 3}).to_dict()
    assert '_base_' not in text


def test_save_path_and_errors(tmp_path, capsys, repo_root):
    tool = load_tool()
    config = str(repo_root / 'configs' / 'demo' / 'bpfn_synthetic.py')
    merged = Config.fromfile(config).to_dict()
    as_json = json.loads(json.dumps(merged))  # tuples become lists
    for name, expected in (('merged.py', merged), ('merged.json', as_json),
                           ('merged.yaml', merged)):
        tool.main([config, '--save-path', str(tmp_path / name)])
        assert Config.fromfile(str(tmp_path / name)).to_dict() == expected
    data = json.loads((tmp_path / 'merged.json').read_text())
    assert data['model']['type'] == 'BiPointFlowNet'
    capsys.readouterr()
    with pytest.raises(SystemExit, match='config file not found'):
        tool.main([str(tmp_path / 'missing.py')])
    with pytest.raises(SystemExit, match='extension must be'):
        tool.main([config, '--save-path', str(tmp_path / 'merged.txt')])
    assert not (tmp_path / 'merged.txt').exists()
