"""TeacherSyncHook and teacher_digest (the 2-process check is in
tests/test_tools/test_dist.py)."""
import os.path as osp

import torch
from mmengine.config import Config

from bpfn.engine import BPFNRunner
from bpfn.engine.hooks import teacher_digest
from .kd_runner import TINY_NET, kd_runner_cfg, save_teacher


def test_digest_is_bitwise(tmp_path):
    from mmengine.registry import init_default_scope

    from bpfn.registry import MODELS
    init_default_scope('bpfn')
    torch.manual_seed(0)
    a = MODELS.build(TINY_NET)
    b = MODELS.build(TINY_NET)
    b.load_state_dict(a.state_dict())
    assert teacher_digest(a) == teacher_digest(b)
    with torch.no_grad():
        p = next(b.parameters())
        p.view(-1)[0] = torch.nextafter(p.view(-1)[0], torch.tensor(1.0))
    assert teacher_digest(a) != teacher_digest(b)


def test_records_the_digest_of_every_iteration(tmp_path):
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    work = str(tmp_path / 'work')
    cfg = kd_runner_cfg(work, teacher,
                        hooks=[dict(type='TeacherSyncHook', record=True)])
    runner = BPFNRunner.from_cfg(Config(cfg))
    runner.train()
    lines = open(osp.join(work, 'teacher_digests', 'rank0.txt')).read(
    ).split('\n')
    steps = [line.split() for line in lines if line]
    # Before training and after each of the 2 iterations; a frozen teacher
    # keeps its digest.
    assert [s[0] for s in steps] == ['start0', '1', '2']
    assert len({s[1] for s in steps}) == 1
    assert steps[0][1] == teacher_digest(runner.model.teacher)
