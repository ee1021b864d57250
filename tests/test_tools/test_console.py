"""What tools/train.py and tools/test.py print on the console."""
import glob
import os.path as osp

from bpfn_test_utils import run_tool

TABLE_HEADER = '| Dataset   | EPE3D(↓) |'


def test_train_console_header_and_summary(trained_checkpoint):
    """One tiny epoch: a short header and the summary on the console; the
    environment and config dumps only in the log file."""
    config, ckpt = trained_checkpoint
    work = osp.dirname(ckpt)
    with open(osp.join(osp.dirname(work), 'train.stdout')) as f:
        out = f.read()
    assert f'config: {config}\n  work dir: {work}\n' in out
    assert '  seed: 1 (deterministic: True)\n' in out
    assert '  threads: 1 (OMP_NUM_THREADS)\n' in out
    assert '  device: cpu\n' in out
    assert 'model: BiPointFlowNet, 0.31M parameters (305,668)' in out
    assert 'val: 2/2 (100%), elapsed ' in out
    assert 'Training finished in ' in out
    assert '(1 epoch, 4 iterations)' in out
    assert '  best EPE3D: ' in out and ' at epoch 1\n' in out
    assert f'  best checkpoint: {work}/best_EPE3D_epoch_1.pth\n' in out
    assert f'  last checkpoint: {work}/epoch_1.pth' in out
    for dump in ('System environment:', 'Runtime environment:',
                 'Hooks will be executed in the following order'):
        assert dump not in out, dump
    (log, ) = glob.glob(osp.join(work, '*', '*.log'))
    with open(log) as f:
        text = f.read()
    for line in ('System environment:', 'Config:\n',
                 'Hooks will be executed in the following order',
                 'threads: 1 (OMP_NUM_THREADS)', 'Training finished in '):
        assert line in text, line


def test_test_work_dir_best_progress_and_one_table(tmp_path,
                                                   trained_checkpoint):
    config, ckpt = trained_checkpoint
    work = osp.dirname(ckpt)
    proc = run_tool('test.py', config, work, '--work-dir',
                    str(tmp_path / 'w'), '--threads', '1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    best = osp.join(work, 'best_EPE3D_epoch_1.pth')
    assert f'testing {best}: best checkpoint best_EPE3D_epoch_1.pth ' \
        '(save_best EPE3D)' in out
    assert f'Checkpoint: {best}\n  best checkpoint ' in out
    assert '  threads: 1 (--threads)\n' in out
    assert 'test: 2/2 (100%), elapsed ' in out
    assert out.count(TABLE_HEADER) == 1
    assert 'System environment:' not in out
    # The metric's table is still in the log file.
    (log, ) = glob.glob(str(tmp_path / 'w' / '*' / '*.log'))
    with open(log) as f:
        assert TABLE_HEADER in f.read()
