"""tools/dist_train.sh and tools/dist_test.sh with 2 CPU processes (gloo)."""
import json
import os
import os.path as osp
import random
import subprocess

from bpfn_test_utils import REPO, run_tool, write_tiny_config


def _bash(script: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PORT=str(random.randint(20000, 40000)))
    env.pop('BPFN_KILL_AT_ITER', None)
    return subprocess.run(['bash', osp.join(REPO, 'tools', script), *args],
                          env=env, capture_output=True, text=True,
                          timeout=120)


def test_dist_train_one_epoch(tmp_path):
    config = write_tiny_config(tmp_path, epochs=1, nval=3)
    proc = _bash('dist_train.sh', config, '2', '--work-dir',
                 str(tmp_path / 'work'))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # 8 samples, batch 2, 2 ranks: 2 iterations per epoch.
    assert 'Epoch(train) [1][2/2]' in log
    assert "backend='gloo'" in log or 'gloo' in log
    # Validation ran on the 3 samples, each counted once.
    assert 'Synthetic: 3 samples' in log
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')


def test_dist_test_matches_single_process(tmp_path, trained_checkpoint):
    config, ckpt = trained_checkpoint
    # 5 samples on 2 ranks: the sampler pads with a duplicate.
    options = ['--cfg-options', 'test_dataloader.dataset.num_samples=5']
    single = run_tool('test.py', config, ckpt, '--work-dir',
                      str(tmp_path / 's'), '--out', str(tmp_path / 's.json'),
                      *options)
    assert single.returncode == 0, single.stderr[-3000:]
    dist = _bash('dist_test.sh', config, ckpt, '2', '--work-dir',
                 str(tmp_path / 'd'), '--out', str(tmp_path / 'd.json'),
                 *options)
    assert dist.returncode == 0, (dist.stdout + dist.stderr)[-3000:]
    a = json.loads((tmp_path / 's.json').read_text())
    b = json.loads((tmp_path / 'd.json').read_text())
    assert a['metrics'].keys() == b['metrics'].keys() == {'Synthetic'}
    for key, value in a['metrics']['Synthetic'].items():
        assert abs(value - b['metrics']['Synthetic'][key]) < 1e-6, key
    assert abs(a['zero_flow']['Synthetic']['EPE3D'] -
               b['zero_flow']['Synthetic']['EPE3D']) < 1e-6
    assert 'Synthetic: 5 samples' in dist.stdout + dist.stderr
