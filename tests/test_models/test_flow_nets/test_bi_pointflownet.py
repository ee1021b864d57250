import pytest
import torch
from mmengine.config import Config

from bpfn.apis import inference_flow, init_model
from bpfn.models.losses import MultiScaleLoss
from bpfn.ops import reference_algorithms
from bpfn.utils import full_float32

TEACHER_CFG = 'configs/bpfn/bpfn_ft3d.py'
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def relative_point_error(pred: torch.Tensor, ref: torch.Tensor):
    """Per point max |error| over x, y, z over the level's max |value|.

    Both (B, N, 3).
    """
    err = (pred.cpu() - ref).abs().amax(dim=-1).flatten()
    return err / ref.abs().max()


def assert_flows_close(flows: list, expected: list, p99: float = 1e-4,
                       max_err: float = 2e-3):
    """Every level's (B, N_l, 3) flows against the expected ones: the 99th
    percentile and the maximum of :func:`relative_point_error`."""
    for level, (pred, ref) in enumerate(zip(flows, expected)):
        err = relative_point_error(pred, ref.cpu())
        assert torch.quantile(err, 0.99) <= p99, f'level {level}'
        assert err.max() <= max_err, f'level {level}'


def assert_matches_reference(out: dict, ref: dict, sample: int = 0,
                             p99: float = 1e-4, max_err: float = 2e-3):
    # The fixture stores the original's flows (1, 3, N_l).
    assert_flows_close([f[sample:sample + 1] for f in out['flows']],
                       [f.transpose(1, 2) for f in ref['flows']], p99,
                       max_err)
    for key in ('fps_idx_pc1', 'fps_idx_pc2'):
        for got, expected in zip(out[key], ref[key]):
            assert torch.equal(got[sample:sample + 1].cpu(), expected.long())


@pytest.fixture(scope='module')
def teacher_ckpt(bpfn_reference, tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'bpfn_original.pth'
    torch.save(bpfn_reference['state_dict'], path)  # an original BPF file
    return str(path)


@pytest.mark.parametrize('device', [
    'cpu',
    pytest.param(
        'cuda',
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(),
            reason='no CUDA device: the GPU run of the fixture test needs '
            'one'))
])
def test_reproduces_original(bpfn_reference, teacher_ckpt, repo_root,
                             device):
    model = init_model(str(repo_root / TEACHER_CFG), teacher_ckpt, device)
    ref = bpfn_reference
    with full_float32():  # the original ran in float32, not TF32
        out = inference_flow(model, ref['pc1'], ref['pc2'])
    assert [f.shape for f in out['flows']] == [
        f.transpose(1, 2).shape for f in ref['flows']]
    loss = MultiScaleLoss()(out['flows'], ref['gt_flow'].to(device),
                            out['fps_idx_pc1'])
    if device == 'cpu':
        assert_matches_reference(out, ref)
        assert abs(loss.item() - ref['multiscale_loss']) <= \
            1e-4 * abs(ref['multiscale_loss'])
        return
    # The fixture was computed on a CPU. A GPU's products sum in another
    # order, and where the neighbour search has near-ties the rounding
    # picks other neighbours (on an H200: level-0 p99 2.4e-4 and max
    # 1.7e-2, levels 1-3 below 1.5e-4; the sampling stays exact). So on
    # the GPU bpfn is held to the original's algorithms run on the same
    # GPU at the fixture's tolerance, and to the fixture ten times looser.
    with reference_algorithms(), full_float32():
        original = inference_flow(model, ref['pc1'], ref['pc2'])
    assert_flows_close(out['flows'], original['flows'])
    assert_matches_reference(out, ref, p99=1e-3, max_err=5e-2)
    assert abs(loss.item() - ref['multiscale_loss']) <= \
        1e-3 * abs(ref['multiscale_loss'])


def test_reference_path_reproduces_original(bpfn_reference, teacher_ckpt,
                                            repo_root):
    # The straightforward algorithms that the benchmark compares bpfn with
    # (tools/analysis_tools/benchmark.py --compare-reference) compute the
    # original's outputs too.
    model = init_model(str(repo_root / TEACHER_CFG), teacher_ckpt)
    with reference_algorithms():
        out = inference_flow(model, bpfn_reference['pc1'],
                             bpfn_reference['pc2'])
    assert_matches_reference(out, bpfn_reference)


def test_batch_equals_single_runs(bpfn_reference, teacher_ckpt, repo_root):
    model = init_model(str(repo_root / TEACHER_CFG), teacher_ckpt)
    ref = bpfn_reference
    # Second sample: the reverse pair, a different but valid scene.
    pc1 = torch.cat([ref['pc1'], ref['pc2']])
    pc2 = torch.cat([ref['pc2'], ref['pc1']])
    both = inference_flow(model, pc1, pc2)
    assert_matches_reference(both, ref, sample=0)
    single = inference_flow(model, ref['pc2'], ref['pc1'])
    assert_flows_close([f[1:] for f in both['flows']], single['flows'])
    for got, expected in zip(both['fps_idx_pc1'], single['fps_idx_pc1']):
        assert torch.equal(got[1:], expected)


@pytest.mark.parametrize('config,expected', [
    ('configs/bpfn/bpfn_ft3d.py', 7_958_604),
    ('configs/bpfn/bpfn-wn8_ft3d.py', 4_475_436),
    ('configs/bpfn/bpfn-wn4_ft3d.py', 2_733_852),
    ('configs/bpfn/bpfn-wn48_ft3d.py', 3_857_356),
    ('configs/bpfn/bpfn-half_ft3d.py', 2_016_892),
    ('configs/bpfn/bpfn-declinear_ft3d.py', 5_858_194),
])
def test_parameter_counts(repo_root, config, expected):
    model = init_model(str(repo_root / config))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_declinear_level4_shapes(repo_root):
    model = init_model(str(repo_root / 'configs/bpfn/bpfn-declinear_ft3d.py'))
    linear = model.level4.linear
    assert tuple(linear.depthwise.weight.shape) == (515, 1, 1, 1)
    assert tuple(linear.pointwise.weight.shape) == (16, 515, 1, 1)


def test_wn48_assignment(repo_root):
    model = init_model(str(repo_root / 'configs/bpfn/bpfn-wn48_ft3d.py'))
    out_channels = {
        name: m.weightnet.mlp_convs[-1].out_channels
        for name, m in model.named_modules() if hasattr(m, 'weightnet')
    }
    assert out_channels['level4'] == out_channels['level3'] == 8
    assert out_channels['flow3.pointconv_list.0'] == 8
    assert out_channels['level2'] == out_channels['level1'] == 4
    assert out_channels['flow0.pointconv_list.1'] == 4


def small_model(**kwargs):
    cfg = dict(type='BiPointFlowNet', num_points=[128, 64, 32, 16],
               flow_neighbors=8, feat_neighbors=8, estimator_neighbors=4)
    cfg.update(kwargs)
    config = Config(dict(model=cfg, default_scope='bpfn'))
    return init_model(config)


@pytest.mark.parametrize('kwargs', [
    dict(), dict(width_mult=0.5), dict(weightnet=[4, 4, 4, 8, 8]),
    dict(level4_block='DecreasedLinear')
])
def test_students_train_step(kwargs):
    model = small_model(**kwargs).train()
    gen = torch.Generator().manual_seed(0)
    pc1 = torch.rand(2, 256, 3, generator=gen) * 10
    flow = torch.rand(2, 256, 3, generator=gen) * 0.3
    inputs = dict(pc1=pc1, pc2=pc1 + flow)
    samples = [dict(gt_flow=f) for f in flow]
    losses = model(inputs, samples, mode='loss')
    assert losses['loss'].ndim == 0 and torch.isfinite(losses['loss'])
    losses['loss'].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    # The unused parameters of the original are frozen, so distributed
    # training sees no unused trainable parameter.
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all('mlp_bns' in n or '.bias1' in n or '.bias2' in n
                          for n in frozen)
    preds = model.eval()(inputs, samples, mode='predict')
    assert preds[0]['pred_flow'].shape == (256, 3)


@pytest.mark.parametrize('kwargs', [
    dict(), dict(width_mult=0.5), dict(weightnet=4),
    dict(level4_block='DecreasedLinear')
])
def test_training_step_equals_the_reference_path(kwargs):
    # Loss and gradients of a training step, bpfn's computation against the
    # original's algorithms (same weights, same batch). Each layer's
    # gradients are compared tightly in tests/test_models/test_layers; here a
    # near-tie of a neighbour max, decided differently by the two paths'
    # rounding, may send one gradient to another neighbour (a change of up
    # to about 5e-3 of all the gradients), so the whole is compared.
    torch.manual_seed(0)
    model = small_model(**kwargs).train()
    gen = torch.Generator().manual_seed(1)
    pc1 = torch.rand(2, 256, 3, generator=gen) * 10
    flow = torch.rand(2, 256, 3, generator=gen) * 0.3
    inputs = dict(pc1=pc1, pc2=pc1 + flow)
    samples = [dict(gt_flow=f) for f in flow]
    losses, grads = [], []
    for reference in (False, True):
        model.zero_grad()
        with reference_algorithms(reference):
            loss = model(inputs, samples, mode='loss')['loss']
            loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()
                                if p.requires_grad]))
    assert abs(losses[0] - losses[1]) <= 1e-5 * abs(losses[1])
    assert (grads[0] - grads[1]).norm() <= 1e-2 * grads[1].norm()


@pytest.mark.parametrize('reference', [False, True])
def test_every_layer_output_is_channel_last_and_contiguous(reference):
    # One point layout: every module hands on (B, N_l, C) maps, on bpfn's
    # path contiguous, so that no layer transposes or copies its input (the
    # reference path works in the original's (B, C, N) inside and hands on
    # transposed views). Point counts: 256 input points, then num_points.
    model = small_model().eval()
    points = {256, 128, 64, 32, 16}
    seen = {}

    def record(name):
        def hook(module, args, out):
            outs = out if isinstance(out, tuple) else (out,)
            seen[name] = [tuple(t.shape) for t in outs
                          if torch.is_tensor(t) and t.is_floating_point()
                          and t.dim() == 3]
            for t in outs:
                if torch.is_tensor(t) and t.is_floating_point() and \
                        t.dim() == 3:
                    assert t.shape[1] in points, (name, tuple(t.shape))
                    assert reference or t.is_contiguous(), (name, t.shape)
        return hook

    for name, module in model.named_modules():
        if name.count('.') == 0 and name or name.endswith('embedding_12') \
                or name.endswith('embedding_21'):
            module.register_forward_hook(record(name))
    gen = torch.Generator().manual_seed(0)
    pc1 = torch.rand(1, 256, 3, generator=gen)
    with torch.no_grad(), reference_algorithms(reference):
        model(dict(pc1=pc1, pc2=pc1 + 0.01), mode='tensor')
    # Both clouds go through the encoder as one batch of 2.
    assert seen['level0'] == [(2, 256, 32)]
    assert seen['level1'] == [(2, 128, 3), (2, 128, 64)]
    assert seen['cross3'] == [(1, 32, 256)] * 2 + [(1, 32, 256)]
    assert seen['cross0.embedding_21'] == [(1, 256, 32)]
    assert seen['flow0'] == [(1, 256, 64), (1, 256, 3)]
    assert len(seen) == 33  # 25 top-level modules and 8 marked outputs


def test_too_few_points_is_a_clear_error():
    model = small_model()
    with pytest.raises(ValueError, match='pc1 has 100 points but level 1 '
                       'samples 128'):
        model.extract(torch.rand(1, 100, 3), torch.rand(1, 100, 3))


def test_bad_student_config():
    with pytest.raises(ValueError, match='list of 5 values'):
        small_model(weightnet=[4, 8])
    with pytest.raises(ValueError, match="'Linear' or 'DecreasedLinear'"):
        small_model(level4_block='Conv')
