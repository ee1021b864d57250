"""Tests of tools/analysis_tools/compare_flows.py."""
from pathlib import Path

import numpy as np
import pytest
import torch

from bpfn_test_utils import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'analysis_tools' / 'compare_flows.py'


def load_tool():
    return load_script(TOOL, 'compare_flows')


def reference_epe(config: str, ckpt: str, num: int) -> list:
    """EPE3D per test scene through bpfn.apis.inference_flow."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from bpfn.apis import inference_flow, init_model
    from bpfn.registry import DATASETS
    model = init_model(config, ckpt)
    init_default_scope('bpfn')
    dataset = DATASETS.build(Config.fromfile(config).test_dataloader.dataset)
    epe = []
    for i in range(num):
        sample = dataset[i]
        flow = inference_flow(model, sample['inputs']['pc1'],
                              sample['inputs']['pc2'])['flows'][0]
        err = flow[0] - sample['data_samples']['gt_flow']
        epe.append(float(err.norm(dim=1).mean()))
    return epe


def parse_table(stdout: str) -> dict:
    rows = {}
    for line in stdout.splitlines():
        if line.startswith('| ') and not line.startswith('| Scene'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            rows[cells[0]] = [float(c) for c in cells[1:]]
    return rows


def test_compare_trained_and_random(tmp_path, trained_checkpoint, capsys):
    from PIL import Image

    from bpfn.apis import init_model
    config, ckpt = trained_checkpoint
    torch.manual_seed(3)
    random_ckpt = tmp_path / 'random.pth'
    torch.save(dict(state_dict=init_model(config).state_dict()),
               random_ckpt)
    tool = load_tool()
    out_dir = tmp_path / 'cmp'
    # A work dir resolves to its checkpoint.
    tool.main([config, str(Path(ckpt).parent), config, str(random_ckpt),
               '--num', '2', '--out-dir', str(out_dir), '--labels',
               'trained', 'random'])
    stdout = capsys.readouterr().out
    assert '| Scene | trained EPE3D | random EPE3D |' in stdout
    rows = parse_table(stdout)
    assert list(rows) == ['val_000000', 'val_000001', 'mean (2 scenes)']
    trained = reference_epe(config, ckpt, 2)
    random = reference_epe(config, str(random_ckpt), 2)
    for i, name in enumerate(['val_000000', 'val_000001']):
        assert rows[name] == pytest.approx([trained[i], random[i]],
                                           abs=1e-4)
    assert rows['mean (2 scenes)'] == pytest.approx(
        [np.mean(trained), np.mean(random)], abs=1e-4)
    assert trained != pytest.approx(random, abs=1e-3)
    pictures = sorted(p.name for p in out_dir.iterdir())
    assert pictures == ['val_000000.png', 'val_000001.png']
    with Image.open(out_dir / pictures[0]) as image:
        # Ground truth, trained and random rows of 368 pixels.
        assert image.size == (1200, 3 * 368)


def test_argument_errors(tmp_path, trained_checkpoint):
    config, ckpt = trained_checkpoint
    tool = load_tool()
    with pytest.raises(SystemExit, match='--labels must differ'):
        tool.main([config, ckpt, config, ckpt, '--labels', 'a', 'a',
                   '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit, match=r'--indices \[9\] outside the test '
                       r'dataset .* \(4 scenes\)'):
        tool.main([config, ckpt, config, ckpt, '--indices', '9',
                   '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit, match='checkpoint not found'):
        tool.main([config, str(tmp_path / 'none.pth'), config, ckpt])
    assert not list(tmp_path.glob('*.png'))
