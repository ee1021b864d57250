"""Bad-input catalogue, configs and results: a mistyped ``--cfg-options``
key, a bad numeric model argument or a non-finite result stops with a
message naming the key, field, dataset or metric."""
import json
import math
import os.path as osp
import re
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from bpfn.apis.testing import non_finite_results
from bpfn.registry import MODELS
from bpfn.utils import atomic_write_json, load_checkpoint_file
from bpfn.utils.tool_utils import ConfigError, check_cfg_options
from bpfn_test_utils import REPO, load_script, write_tiny_config

TINY: Dict = dict(
    type='BiPointFlowNet',
    num_points=[128, 64, 32, 16],
    feat_neighbors=8,
    flow_neighbors=8,
    estimator_neighbors=8,
    width_mult=0.25,
    estimator_channels=[16, 16],
    estimator_mlp=[16, 16])


def _tool(name: str):
    return load_script(osp.join(REPO, 'tools', name), f'bpfn_tool_{name[:-3]}')


def _exit_message(tool: str, argv) -> str:
    with pytest.raises(SystemExit) as info:
        _tool(tool).main(argv)
    return str(info.value.code)


# 1. --cfg-options keys must exist at the top level -------------------------
@pytest.mark.parametrize('option, top, close', [
    ('trian_cfg.max_epochs=1', 'trian_cfg', 'train_cfg'),
    ('modle.width_mult=0.5', 'modle', 'model'),
    ('optim_wraper.optimizer.lr=0.1', 'optim_wraper', 'optim_wrapper'),
    ('defualt_hooks.logger.interval=5', 'defualt_hooks', 'default_hooks'),
])
def test_mistyped_top_level_key_names_a_close_match(tmp_path, option, top,
                                                    close):
    config = write_tiny_config(tmp_path)
    message = _exit_message('train.py', [
        config, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        option])
    key = option.split('=')[0]
    assert message == (
        f'error: --cfg-options: {top!r} (in {key}) is not a top-level key of '
        f"the config (did you mean {close!r}?); to add a new key on purpose, "
        f'write it as +{key}=...')
    assert not (tmp_path / 'work').exists()


def test_unknown_key_without_close_match_and_the_add_prefix(tmp_path):
    cfg = Config.fromfile(write_tiny_config(tmp_path))
    with pytest.raises(ConfigError) as info:
        check_cfg_options(cfg, {'zzzz': 1})
    assert str(info.value) == (
        "--cfg-options: 'zzzz' (in zzzz) is not a top-level key of the "
        'config; to add a new key on purpose, write it as +zzzz=...')
    # With the prefix the key is added; runner keys a config may omit
    # (work_dir, load_from ...) need none.
    assert check_cfg_options(cfg, {'+my_note.text': 'x', 'work_dir': 'w',
                                   'train_cfg.max_epochs': 3}) == {
        'my_note.text': 'x', 'work_dir': 'w', 'train_cfg.max_epochs': 3}
    with pytest.raises(ConfigError, match=re.escape(
            '--cfg-options: +.a names no key')):
        check_cfg_options(cfg, {'+.a': 1})


def test_mistyped_key_in_test_tool(tmp_path):
    config = write_tiny_config(tmp_path)
    message = _exit_message('test.py', [
        config, str(tmp_path / 'x.pth'), '--cfg-options',
        'test_dataloder.batch_size=1'])
    assert message.startswith(
        "error: --cfg-options: 'test_dataloder' (in test_dataloder."
        "batch_size) is not a top-level key of the config (did you mean "
        "'test_dataloader'?)")


# 2. Numeric model arguments are checked, naming the field -----------------
BAD_MODEL_ARGS = [
    ('feat_neighbors', 0, 'an integer >= 1 (neighbours per point)'),
    ('flow_neighbors', -4, 'an integer >= 1 (neighbours per point)'),
    ('estimator_neighbors', 2.5, 'an integer >= 1 (neighbours per point)'),
    ('width_mult', -1, 'a finite number > 0'),
    ('width_mult', 0.0, 'a finite number > 0'),
    ('width_mult', math.nan, 'a finite number > 0'),
    ('num_points', [128, 0, 32, 16],
     'a list of integers >= 1 (points of levels 1-4)'),
    ('estimator_channels', [16, -16], 'a list of integers >= 1 (widths)'),
    ('weightnet', 0, 'an integer >= 1 or a list of them (C_mid)'),
    ('flow_clamp', 0, 'a finite number > 0'),
    ('level4_block', 'Decreased', "'Linear' or 'DecreasedLinear'"),
    ('flow_neighbors', True, 'an integer >= 1 (neighbours per point)'),
]


@pytest.mark.parametrize('field, value, expected', BAD_MODEL_ARGS,
                         ids=[f'{f}={v}' for f, v, _ in BAD_MODEL_ARGS])
def test_bad_numeric_model_argument_names_the_field(field, value, expected):
    init_default_scope('bpfn')
    with pytest.raises(ValueError) as info:
        MODELS.build(dict(TINY, **{field: value}))
    assert str(info.value) == (f'model.{field} must be {expected}, got '
                               f'{value!r} (BiPointFlowNet)')


def test_bad_model_argument_through_train_tool(tmp_path):
    config = write_tiny_config(tmp_path)
    with pytest.raises(ValueError, match=re.escape(
            'model.width_mult must be a finite number > 0, got -1 '
            '(BiPointFlowNet)')):
        _tool('train.py').main([config, '--work-dir', str(tmp_path / 'w'),
                                '--cfg-options', 'model.width_mult=-1'])
    assert not (tmp_path / 'w' / 'train.lock').exists()


# 3. Non-finite results ----------------------------------------------------
@pytest.fixture(scope='module')
def nan_checkpoint(trained_checkpoint, tmp_path_factory):
    """The trained tiny network with one NaN weight: NaN predictions."""
    _, ckpt = trained_checkpoint
    state = load_checkpoint_file(ckpt)['state_dict']
    state['level0.composed_module.0.weight'][0, 0] = float('nan')
    path = tmp_path_factory.mktemp('nan') / 'nan.pth'
    torch.save(dict(state_dict=state), path)
    return str(path)


def test_non_finite_predictions_stop_the_test_tool(trained_checkpoint,
                                                   nan_checkpoint, tmp_path):
    config, _ = trained_checkpoint
    out = tmp_path / 'results.json'
    message = _exit_message('test.py', [
        config, nan_checkpoint, '--work-dir', str(tmp_path / 'w'), '--out',
        str(out)])
    assert message == (
        f'error: non-finite results of {nan_checkpoint}: Synthetic: 4 of 4 '
        'samples have non-finite predicted flow (first: val_000000, '
        'val_000001, val_000002, val_000003); Synthetic: EPE3D is nan; '
        'Synthetic: EPE2D is nan; Synthetic: EPE_FD is nan; Synthetic: '
        'EPE_FS is nan; Synthetic: EPE_BS is nan; Synthetic: ThreewayEPE is '
        'nan. Nothing was written. Check the checkpoint '
        '(NaN/inf weights?) and the data; --allow-nonfinite keeps going and '
        'writes them as null')
    assert not out.exists()


def test_non_finite_metric_is_named_with_its_dataset():
    result = dict(metrics=dict(KITTI=dict(EPE3D=0.1, ACC3DS=math.inf)),
                  zero_flow=dict(KITTI=dict(EPE3D=math.nan)))
    assert non_finite_results(result, {}) == [
        'KITTI: ACC3DS is inf', 'KITTI: EPE3D (zero-flow) is nan']
    assert non_finite_results(
        dict(metrics=dict(KITTI=dict(EPE3D=0.1)), zero_flow={}),
        dict(KITTI=dict(count=0, total=3, samples=[]))) == []


def test_results_json_refuses_nan(tmp_path):
    out = tmp_path / 'results.json'
    atomic_write_json(dict(EPE3D=0.5), str(out))
    with pytest.raises(ValueError, match='Out of range float values are not '
                       'JSON compliant'):
        atomic_write_json(dict(EPE3D=math.nan), str(out))
    # The previous file is intact and no temp file is left.
    assert json.loads(out.read_text()) == dict(EPE3D=0.5)
    assert [p.name for p in tmp_path.iterdir()] == ['results.json']
