import subprocess
import sys

import torch

from bpfn.apis import init_model

TEACHER_CFG = 'configs/bpfn/bpfn_ft3d.py'


def test_convert_original_checkpoint(bpfn_reference, repo_root, tmp_path):
    src, dst = tmp_path / 'original.pth', tmp_path / 'bpfn.pth'
    # The original trains under DataParallel: keys carry a module. prefix.
    torch.save({f'module.{k}': v
                for k, v in bpfn_reference['state_dict'].items()}, src)
    result = subprocess.run(
        [sys.executable, 'tools/model_converters/convert_official.py',
         str(src), str(dst)], cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'wrote 438 tensors' in result.stdout
    saved = torch.load(dst, weights_only=True)
    assert set(saved['state_dict']) == set(bpfn_reference['state_dict'])
    model = init_model(str(repo_root / TEACHER_CFG), str(dst))
    for key, value in bpfn_reference['state_dict'].items():
        assert torch.equal(model.state_dict()[key], value)
