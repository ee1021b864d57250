"""tools/train.py: training, and kill-and-resume from a given checkpoint."""
import re

from bpfn.utils import load_checkpoint_file
from bpfn_test_utils import run_tool, write_tiny_config

SCHEDULER = '''
param_scheduler = [dict(type='ClampedStepLR', step_size=1, gamma=0.5,
                        min_lr=1e-5, by_epoch=True, begin=0, end=2)]
'''


def test_kill_and_resume_from_path(tmp_path):
    config = write_tiny_config(tmp_path, epochs=2, nval=2)
    with open(config, 'a') as f:
        f.write(SCHEDULER)
    work = tmp_path / 'work'
    # 4 iterations per epoch: killed at the start of iteration 6.
    killed = run_tool('train.py', config, '--work-dir', str(work),
                      env=dict(BPFN_KILL_AT_ITER='6'))
    assert killed.returncode == -9
    first = killed.stdout + killed.stderr
    losses = [float(v) for v in re.findall(r'loss: ([0-9.]+)', first)]
    assert len(losses) == 5 and all(0 < v < 1e3 for v in losses)
    assert 'EPE3D: ' in first

    ckpt = str(work / 'epoch_1.pth')
    resumed = run_tool('train.py', config, '--work-dir', str(work),
                       '--resume', ckpt)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert f'resuming from {ckpt}' in log
    assert 'resumed epoch: 1, iter: 4' in log
    # The scheduler state was restored: epoch 2 runs at the halved lr.
    assert re.search(r'Epoch\(train\) \[2\]\[1/4\]\s+lr: 5\.0000e-04', log)
    assert 'Epoch(train) [1]' not in log

    state = load_checkpoint_file(str(work / 'epoch_2.pth'))
    assert state['meta']['epoch'] == 2 and state['meta']['iter'] == 8
    # Adam continued from the saved state: 4 + 4 steps.
    steps = {float(s['step']) for s in state['optimizer']['state'].values()}
    assert steps == {8.0}
    # The scheduler continued from its saved step (it ends at epoch 2).
    scheduler = state['param_schedulers'][0]
    assert scheduler['_global_step'] == 2 and scheduler['last_step'] == 1
    assert state['optimizer']['param_groups'][0]['lr'] == 5e-4


def test_sigterm_to_the_process_group_with_workers(tmp_path):
    """SIGTERM to every process of the run (as Slurm sends it), with data
    loader workers: training stops at a safe point and exits with 143."""
    import os
    import subprocess
    import sys

    from bpfn_test_utils import REPO
    config = write_tiny_config(tmp_path, epochs=1, nval=2)
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1',
               BPFN_SIGNAL_AT_ITER='2:SIGTERM:group')
    env.pop('BPFN_KILL_AT_ITER', None)
    env.pop('SLURM_JOB_ID', None)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools', 'train.py'), config,
         '--work-dir', str(work), '--cfg-options',
         'train_dataloader.num_workers=2',
         'default_hooks.graceful_stop.save_checkpoint=True'],
        env=env, capture_output=True, text=True, timeout=240,
        start_new_session=True)
    assert proc.returncode == 143, proc.stderr[-3000:]
    assert 'DataLoader worker' not in proc.stderr
    assert ('stopped: training stopped by SIGTERM after iteration 2 (epoch '
            f'1): saved the resumable checkpoint {work / "epoch_0_iter_2.pth"}'
            ) in proc.stderr
    state = load_checkpoint_file(str(work / 'epoch_0_iter_2.pth'))
    assert state['meta']['iter'] == 2 and state['meta']['epoch_batches'] == 2
    assert not [p for p in os.listdir(work) if p.endswith(('.tmp', '.lock'))]
