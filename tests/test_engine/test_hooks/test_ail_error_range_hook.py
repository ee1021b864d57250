"""AILErrorRangeHook in a small real runner: the training-set range."""
import json
import os.path as osp

import pytest
import torch
from .kd_runner import POINTS, kd_runner_cfg, save_teacher
from mmengine.config import Config
from mmengine.registry import init_default_scope

from bpfn.datasets import SyntheticSceneFlow
from bpfn.engine import BPFNRunner
from bpfn.engine.hooks import get_rng_state
from bpfn.engine.hooks.ail_error_range_hook import AILErrorRangeHook
from bpfn.models.losses import subsample_flow
from bpfn.utils import load_checkpoint_file

AIL = dict(type='AILLoss', loss_weight=0.5)
HOOKS = [dict(type='AILErrorRangeHook')]


def _runner(work_dir, teacher, **kwargs) -> BPFNRunner:
    return BPFNRunner.from_cfg(Config(kd_runner_cfg(
        work_dir, teacher, losses=[AIL], hooks=HOOKS, **kwargs)))


def _range_by_hand(runner, scenes=range(4)) -> tuple:
    """Teacher end-point errors over the training scenes ``scenes`` (of 4),
    sampled as in deterministic mode (seed 0, by sample index), min and max
    per level."""
    init_default_scope('bpfn')
    teacher = runner.model.teacher
    data = SyntheticSceneFlow(
        split='train', num_samples=4, num_points=POINTS,
        pipeline=[dict(type='RandomSampleFlowPoints', num_points=POINTS,
                       deterministic=True),
                  dict(type='PackFlowInputs')])
    lows, highs = [float('inf')] * 4, [0.0] * 4
    for i in scenes:
        sample = data[i]
        inputs = {k: v[None] for k, v in sample['inputs'].items()}
        with torch.no_grad():
            out = teacher(inputs, mode='tensor')
        gt = subsample_flow(sample['data_samples']['gt_flow'][None],
                            out['fps_idx_pc1'])
        for level, (flow, g) in enumerate(zip(out['flows'], gt)):
            err = (flow - g).norm(dim=-1)
            lows[level] = min(lows[level], float(err.min()))
            highs[level] = max(highs[level], float(err.max()))
    return lows, highs


def test_range_from_a_pass_cache_and_checkpoint(tmp_path, monkeypatch):
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    work = str(tmp_path / 'work')
    runner = _runner(work, teacher)
    runner.train()
    loss = runner.model.distill_losses[0]
    lows, highs = _range_by_hand(runner)
    # Squared errors (the paper's choice): the range of the squares.
    assert loss.squared
    assert [r[0] for r in loss.error_ranges] == pytest.approx(
        [lo**2 for lo in lows], rel=1e-5)
    assert [r[1] for r in loss.error_ranges] == pytest.approx(
        [hi**2 for hi in highs], rel=1e-5)
    assert all(lo < hi for lo, hi in loss.error_ranges)
    # Cached in the work dir and stored in the checkpoint.
    with open(osp.join(work, 'ail_error_range.json')) as f:
        cached = json.load(f)
    assert cached['e_max'] == pytest.approx(highs, rel=1e-5)
    assert cached['num_samples'] == 4
    ckpt = load_checkpoint_file(osp.join(work, 'epoch_1.pth'))
    assert ckpt['meta']['ail_error_range'] == cached
    assert all(k.startswith('student.') for k in ckpt['state_dict'])

    # Resuming does not measure again (nor does a new run in the work dir).
    def no_pass(*args, **kwargs):
        raise AssertionError('the teacher pass ran again')

    monkeypatch.setattr(AILErrorRangeHook, 'measure', no_pass)
    resumed = _runner(work, teacher, epochs=2, resume=True)
    resumed.train()
    assert resumed.model.distill_losses[0].error_ranges == loss.error_ranges
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    again = _runner(work, teacher)
    again.train()
    assert again.model.distill_losses[0].error_ranges == loss.error_ranges
    # Another teacher file: the cache does not apply.
    other = save_teacher(str(tmp_path / 'other.pth'), seed=1)
    with pytest.raises(AssertionError, match='pass ran again'):
        _runner(work, other).train()


def test_pass_is_deterministic_and_leaves_the_rng(tmp_path):
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    runner = _runner(str(tmp_path / 'work'), teacher)
    hook = AILErrorRangeHook()
    torch.manual_seed(123)
    before = get_rng_state()
    first = hook.measure(runner, runner.model)
    after = get_rng_state()
    assert torch.equal(before['torch'], after['torch'])
    assert before['numpy'][1].tolist() == after['numpy'][1].tolist()
    second = hook.measure(runner, runner.model)
    assert first == second
    assert len(first['e_min']) == 4


def test_hook_needs_a_train_set_ail_loss(tmp_path):
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    cfg = kd_runner_cfg(str(tmp_path / 'work'), teacher,
                        losses=[dict(AIL, error_range='batch')], hooks=HOOKS)
    with pytest.raises(ValueError, match="error_range='train_set'"):
        BPFNRunner.from_cfg(Config(cfg)).train()


def test_range_from_the_labelled_samples_only(tmp_path):
    """Training data with unlabelled scenes: the pass measures the
    labelled ones (and loads only them), training runs on the mix."""
    teacher = save_teacher(str(tmp_path / 'teacher.pth'))
    cfg = kd_runner_cfg(str(tmp_path / 'work'), teacher, losses=[AIL],
                        hooks=HOOKS)
    cfg['train_dataloader']['dataset']['labeled_fraction'] = 0.5
    runner = BPFNRunner.from_cfg(Config(cfg))
    labelled = SyntheticSceneFlow(split='train', num_samples=4,
                                  num_points=POINTS, labeled_fraction=0.5,
                                  lazy_init=True).labeled_scenes().tolist()
    assert len(labelled) == 2
    loaded = []
    dataset = runner.train_dataloader.dataset
    original = type(dataset).prepare_data

    def spy(self, idx):
        loaded.append(idx)
        return original(self, idx)

    type(dataset).prepare_data = spy
    try:
        record = AILErrorRangeHook().measure(runner, runner.model)
    finally:
        type(dataset).prepare_data = original
    assert sorted(loaded) == labelled  # the unlabelled scenes not loaded
    assert record['num_samples'] == 2 and record['num_unlabeled'] == 2
    lows, highs = _range_by_hand(runner, labelled)
    assert record['e_min'] == pytest.approx(lows, rel=1e-5)
    assert record['e_max'] == pytest.approx(highs, rel=1e-5)
    runner.train()  # AIL on the mixed batches
    loss = runner.model.distill_losses[0]
    assert [r[1] for r in loss.error_ranges] == pytest.approx(
        [hi**2 for hi in highs], rel=1e-5)
    fractions = runner.message_hub.get_scalar('train/labeled_frac').data[0]
    assert fractions.mean() == pytest.approx(0.5)
    # No labelled training sample at all: a clear error.
    cfg['train_dataloader']['dataset']['labeled_fraction'] = 0.0
    cfg['work_dir'] = str(tmp_path / 'none')
    with pytest.raises(RuntimeError, match='none of the 4 training samples '
                       'has ground truth'):
        BPFNRunner.from_cfg(Config(cfg)).train()
