"""Every ``configs/kd/*.py`` and ``configs/demo/*.py`` resolves to the
runner settings pinned in ``data/resolved_configs.json``.

The configs inherit from skeletons (``configs/_base_/models/bpfn_kd.py``,
``configs/demo/bpfn_synthetic_kd.py``, ``configs/_base_/datasets/
synthetic.py``) and override only what they change; this test catches an
override lost or added on the way: the resolved ``model`` (student,
teacher, checkpoint, losses), data loaders, schedules and hooks are the
pinned ones, key for key. Helper variables of the files (``num_points``,
``train_pipeline``, ``cross2``, ...) are not runner settings and are not
compared.

Where a setting is meant to change, update the pinned file and review its
diff::

    python tests/test_configs/test_resolved_configs.py --update
"""
import glob
import json
import os.path as osp
import sys
from typing import Dict, List

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EXPECTED = osp.join(osp.dirname(osp.abspath(__file__)), 'data',
                    'resolved_configs.json')
# The runner settings that these configs or their bases set (the rest of
# what the runner reads comes from default_runtime.py alone).
RUNNER_KEYS = ('model', 'model_wrapper_cfg', 'train_dataloader',
               'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg',
               'test_cfg', 'optim_wrapper', 'param_scheduler',
               'val_evaluator', 'test_evaluator', 'default_hooks',
               'custom_hooks', 'randomness')


def config_names() -> List[str]:
    """The configs under test, as paths relative to ``configs/``."""
    paths = glob.glob(osp.join(REPO, 'configs', 'kd', '*.py')) + glob.glob(
        osp.join(REPO, 'configs', 'demo', '*.py'))
    return sorted(osp.relpath(p, osp.join(REPO, 'configs')) for p in paths)


def resolve(name: str) -> Dict:
    """The runner settings of ``configs/<name>`` as plain JSON values
    (tuples become lists)."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    settings = {k: cfg[k] for k in RUNNER_KEYS if k in cfg}
    return json.loads(json.dumps(Config(settings).to_dict()))


def _load_expected() -> Dict[str, Dict]:
    with open(EXPECTED) as f:
        return json.load(f)


def test_every_config_is_pinned():
    assert sorted(_load_expected()) == config_names()


@pytest.mark.parametrize('name', config_names())
def test_resolved_config_is_pinned(name):
    expected = _load_expected()[name]
    actual = resolve(name)
    assert sorted(actual) == sorted(expected), name
    for key in expected:
        assert actual[key] == expected[key], f'{name}: {key} differs'


def test_readme_kd_example_is_a_config():
    """The README's KD example is ``configs/kd/hint_wn4.py`` as it is
    (its code, without the comments)."""
    with open(osp.join(REPO, 'README.md')) as f:
        readme = f.read()
    section = readme[readme.index('## Knowledge distillation'):]
    example = section[section.index('```python\n') + 10:]
    example = example[:example.index('```')]
    with open(osp.join(REPO, 'configs', 'kd', 'hint_wn4.py')) as f:
        code = ''.join(line for line in f if not line.startswith('#'))
    assert example == code


if __name__ == '__main__':
    if sys.argv[1:] != ['--update']:
        sys.exit(f'usage: python {sys.argv[0]} --update')
    # One line a setting, so that a diff names the config and the setting.
    blocks = []
    for name in config_names():
        settings = resolve(name)
        lines = [
            f'  {json.dumps(k)}: {json.dumps(settings[k], sort_keys=True)}'
            for k in sorted(settings)
        ]
        blocks.append(f' {json.dumps(name)}: {{\n' + ',\n'.join(lines) +
                      '\n }')
    with open(EXPECTED, 'w') as f:
        f.write('{\n' + ',\n'.join(blocks) + '\n}\n')
    print(f'wrote {EXPECTED}')
