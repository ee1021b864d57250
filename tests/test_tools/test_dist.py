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


# Meta-KD on 2 processes: the demo config, shrunk (256 points, 8 training
# scenes, batch 2 per rank: 2 iterations), with a random teacher.
META_OPTIONS = [
    'model.student.num_points=[128,64,32,16]',
    'model.teacher.num_points=[128,64,32,16]',
    'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
    'param_scheduler=[]', 'default_hooks.logger.interval=1',
    'custom_hooks.2.record=True',
] + [f'{prefix}.{key}' for prefix in (
    'train_dataloader', 'val_dataloader', 'train_cfg.quiz_dataloader')
    for key in ('batch_size=2', 'dataset.num_points=256',
                'dataset.pipeline.0.num_points=256')] + [
    'train_dataloader.dataset.num_samples=8',
    'val_dataloader.dataset.num_samples=2',
    'train_cfg.quiz_dataloader.dataset.num_samples=4']


def _demo_teacher(path) -> str:
    """A random teacher of the demo model's shape, saved to ``path``."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from bpfn.registry import MODELS
    init_default_scope('bpfn')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo',
                                   'bpfn_synthetic.py'))
    cfg.model.num_points = [128, 64, 32, 16]
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(epoch=1), state_dict=teacher.state_dict()),
               str(path))
    return str(path)


def test_dist_meta_kd_keeps_the_ranks_teachers_identical(tmp_path):
    from bpfn.engine.hooks import teacher_digest
    from bpfn.utils import load_checkpoint_file
    teacher = _demo_teacher(tmp_path / 'teacher.pth')
    work = tmp_path / 'work'
    proc = _bash('dist_train.sh',
                 osp.join(REPO, 'configs', 'demo', 'kd_metakd.py'), '2',
                 '--work-dir', str(work), '--cfg-options',
                 f'model.teacher_ckpt={teacher}', *META_OPTIONS)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'Epoch(train) [1][2/2]' in log and 'loss_quiz' in log
    # Each rank wrote its teacher's digest before training and after every
    # step: the same on both ranks, and changing every step (the teacher is
    # taught).
    digests = [
        [line.split() for line in (work / 'teacher_digests' /
                                   f'rank{r}.txt').read_text().splitlines()]
        for r in (0, 1)]
    assert digests[0] == digests[1]
    assert [d[0] for d in digests[0]] == ['start0', '1', '2']
    assert len({d[1] for d in digests[0]}) == 3
    # Rank 0 saved that teacher in the checkpoint.
    state = load_checkpoint_file(str(work / 'epoch_1.pth'))['state_dict']

    class Saved:
        """The checkpoint's teacher.* entries, as a module's state."""

        @staticmethod
        def state_dict():
            return {k[len('teacher.'):]: v for k, v in state.items()
                    if k.startswith('teacher.')}

    assert teacher_digest(Saved) == digests[0][-1][1]


def test_dist_meta_kd_refuses_a_plain_ddp_wrapper(tmp_path):
    teacher = _demo_teacher(tmp_path / 'teacher.pth')
    proc = _bash('dist_train.sh',
                 osp.join(REPO, 'configs', 'demo', 'kd_metakd.py'), '2',
                 '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                 f'model.teacher_ckpt={teacher}',
                 'model_wrapper_cfg.type=MMDistributedDataParallel',
                 *META_OPTIONS)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'skips the meta step' in log and 'bpfn.MetaDistillerDDP' in log
