"""tools/test.py end to end on a tiny synthetic checkpoint."""
import json
import os
import re

import numpy as np
import torch
from mmengine.config import Config

from bpfn_test_utils import load_script, run_tool

HEADER = ('| Dataset   | EPE3D(↓) | ACC3DS(↑) | ACC3DR(↑) | '
          'Outliers3D(↓) | EPE2D(↓) | ACC2D(↑) |')
METRICS = ['EPE3D', 'ACC3DS', 'ACC3DR', 'Outliers3D', 'EPE2D', 'ACC2D']
# The synthetic scenes carry per-point labels, so Threeway EPE is saved too.
THREEWAY = ['EPE_FD', 'EPE_FS', 'EPE_BS', 'ThreewayEPE']


def _report(stdout: str) -> str:
    """The part printed by tools/test.py after the test loop."""
    return stdout[stdout.index('Checkpoint: '):]


def _zero_flow_epe(config: str) -> float:
    """Mean over the test samples of mean ||gt_flow||, computed directly."""
    import bpfn.datasets  # noqa: F401
    from bpfn.registry import DATASETS
    dataset = DATASETS.build(Config.fromfile(config).test_dataloader.dataset)
    values = [
        float(torch.as_tensor(dataset[i]['data_samples']['gt_flow']).norm(
            dim=-1).mean()) for i in range(len(dataset))
    ]
    return float(np.mean(values))


def test_table_json_and_pictures(tmp_path, trained_checkpoint):
    config, ckpt = trained_checkpoint
    out = tmp_path / 'results.json'
    show = tmp_path / 'show'
    first = run_tool('test.py', config, ckpt, '--work-dir',
                     str(tmp_path / 'a'), '--out', str(out), '--show-dir',
                     str(show))
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_tool('test.py', config, ckpt, '--work-dir',
                      str(tmp_path / 'b'))
    assert second.returncode == 0, second.stderr[-3000:]
    report = _report(first.stdout)
    assert HEADER in report
    # The table is printed once (the metric's own table goes to the log).
    assert first.stdout.count(HEADER) == 1
    # Two runs of one checkpoint print the same table and baseline.
    table_a = report.split('metrics written to')[0]
    assert table_a.strip() == _report(second.stdout).strip()

    result = json.loads(out.read_text())
    assert list(result) == ['config', 'checkpoint', 'metrics', 'zero_flow',
                            'experiment']
    assert result['config'] == config
    assert result['checkpoint'] == ckpt
    assert result['experiment'] == 'tiny_synthetic'
    assert list(result['metrics']) == ['Synthetic']
    metrics = result['metrics']['Synthetic']
    assert list(metrics) == METRICS + THREEWAY
    assert all(isinstance(v, float) for v in metrics.values())
    assert 0 < metrics['EPE3D'] < 10
    assert 0 <= metrics['ACC3DS'] <= metrics['ACC3DR'] <= 1
    assert list(result['zero_flow']) == ['Synthetic']
    zero = result['zero_flow']['Synthetic']
    assert list(zero) == ['EPE3D']
    np.testing.assert_allclose(zero['EPE3D'], _zero_flow_epe(config),
                               rtol=1e-5)
    # The printed numbers are the saved ones.
    row = re.search(r'\| Synthetic \| ([0-9.]+) ', report)
    assert float(row.group(1)) == round(metrics['EPE3D'], 4)
    assert f'Synthetic: zero-flow EPE3D {zero["EPE3D"]:.4f}' in report
    # Result files are world-readable like other outputs (umask 022 here).
    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    pictures = sorted(os.listdir(show))
    assert len(pictures) == 4
    assert all(p.endswith('.png') for p in pictures)
    assert all((show / p).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
               for p in pictures)


def test_missing_checkpoint_is_a_clear_error(tmp_path, trained_checkpoint):
    config, _ = trained_checkpoint
    proc = run_tool('test.py', config, str(tmp_path / 'nope.pth'),
                    '--work-dir', str(tmp_path / 'w'))
    assert proc.returncode != 0
    assert f'checkpoint not found: {tmp_path / "nope.pth"}' in proc.stderr


def test_allow_nonfinite_writes_null(tmp_path, trained_checkpoint, capsys):
    """With --allow-nonfinite a NaN model is scored: its metrics are null
    (strict JSON), the zero-flow baseline is kept, the tool returns."""
    import os.path as osp

    from bpfn.utils import load_checkpoint_file
    from bpfn_test_utils import REPO
    config, ckpt = trained_checkpoint
    state = load_checkpoint_file(ckpt)['state_dict']
    state['level0.composed_module.0.weight'][0, 0] = float('nan')
    path = tmp_path / 'nan.pth'
    torch.save(dict(state_dict=state), path)
    out = tmp_path / 'results.json'
    tool = load_script(osp.join(REPO, 'tools', 'test.py'), 'bpfn_test_tool')
    tool.main([config, str(path), '--work-dir', str(tmp_path / 'w'),
               '--out', str(out), '--allow-nonfinite'])
    assert (f'non-finite results of {path} (written as null): Synthetic: 4 '
            'of 4 samples have non-finite predicted flow') in \
        capsys.readouterr().out
    text = out.read_text()
    assert 'NaN' not in text and 'Infinity' not in text
    result = json.loads(text)
    assert result['metrics']['Synthetic'] == {key: None for key in METRICS + THREEWAY}
    assert 0 < result['zero_flow']['Synthetic']['EPE3D'] < 10
