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
import inspect
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


def _default_of(parent: Dict, key: str):
    """The value that ``key`` of a data loader or synthetic dataset config
    takes when it is not given; a sentinel for any other key."""
    from torch.utils.data import DataLoader

    from bpfn.datasets import SyntheticSceneFlow
    if key in ('drop_last', 'persistent_workers') and 'dataset' in parent:
        return inspect.signature(DataLoader).parameters[key].default
    if key == 'seed' and parent.get('type') == 'SyntheticSceneFlow':
        return inspect.signature(SyntheticSceneFlow).parameters[key].default
    return _NO_DEFAULT


_NO_DEFAULT = object()


def differences(actual, expected, path: str = '') -> List[str]:
    """The paths (``model.student.weightnet``) where two resolved values
    differ, each with both values.

    A key that ``actual`` gains with the value it defaults to anyway (a data
    loader's ``drop_last`` / ``persistent_workers``, a synthetic dataset's
    ``seed``, which a config takes from a dataset base that spells them
    out) builds the same object and is no difference.
    """
    if isinstance(actual, dict) and isinstance(expected, dict):
        out = []
        for key in sorted(set(actual) | set(expected)):
            sub = f'{path}.{key}' if path else key
            if key not in expected:
                if actual[key] != _default_of(actual, key):
                    out.append(f'{sub}: added ({actual[key]!r})')
            elif key not in actual:
                out.append(f'{sub}: missing (pinned {expected[key]!r})')
            else:
                out += differences(actual[key], expected[key], sub)
        return out
    if (isinstance(actual, list) and isinstance(expected, list)
            and len(actual) == len(expected)):
        return [d for i, (a, e) in enumerate(zip(actual, expected))
                for d in differences(a, e, f'{path}[{i}]')]
    return [] if actual == expected else [
        f'{path}: {actual!r}, pinned {expected!r}']


def _load_expected() -> Dict[str, Dict]:
    with open(EXPECTED) as f:
        return json.load(f)


def test_every_config_is_pinned():
    assert sorted(_load_expected()) == config_names()


@pytest.mark.parametrize('name', config_names())
def test_resolved_config_is_pinned(name):
    diff = differences(resolve(name), _load_expected()[name])
    assert not diff, f'{name}:\n' + '\n'.join(diff)


def test_differences_catch_a_lost_override():
    pinned = _load_expected()['demo/kd_hint.py']
    lost = resolve('demo/kd_hint.py')
    lost['model']['student']['weightnet'] = 16  # the base model's value
    lost['train_dataloader']['drop_last'] = True  # not the default
    lost['val_dataloader']['dataset']['seed'] = 1  # not the default
    del lost['model']['distill_losses'][0]['loss_weight']
    assert differences(lost, pinned) == [
        "model.distill_losses[0].loss_weight: missing (pinned 0.3)",
        'model.student.weightnet: 16, pinned 4',
        'train_dataloader.drop_last: added (True)',
        'val_dataloader.dataset.seed: added (1)',
    ]


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
