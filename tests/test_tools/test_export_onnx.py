"""``tools/deployment/export_onnx.py``: ONNX export and onnxruntime parity.

A small network (its config written to a temporary folder) is exported at
256 points; onnxruntime must give bpfn's flows within the fixture
tolerance, also at another batch size, with standard ONNX operators only.
"""
import os.path as osp
import warnings

import numpy as np
import pytest
import torch

onnx = pytest.importorskip(
    'onnx', reason='ONNX export needs the optional package onnx '
    '(requirements/optional.txt)')
pytest.importorskip(
    'onnxruntime', reason='the parity check needs the optional package '
    'onnxruntime (requirements/optional.txt)')

from bpfn_test_utils import (furthest_point_sample_brute_force,  # noqa: E402
                             knn_brute_force, load_script)

from bpfn.apis import init_model  # noqa: E402
from bpfn.apis.export import (FlowExportWrapper,  # noqa: E402
                              audited_default_flows, custom_domains,
                              flow_errors, onnx_flows, onnx_session,
                              reference_flows)
from bpfn.ops import export_algorithms, furthest_point_sample, knn  # noqa

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'deployment', 'export_onnx.py')
POINTS = 256
SMALL_CONFIG = """
default_scope = 'bpfn'
model = dict(
    type='BiPointFlowNet', num_points=[128, 64, 32, 16], feat_neighbors=8,
    flow_neighbors=8, estimator_neighbors=5, width_mult=0.25,
    estimator_channels=[32, 32], estimator_mlp=[32, 16])
"""


@pytest.fixture(scope='module')
def tool():
    return load_script(SCRIPT, 'export_onnx')


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """A small config and a checkpoint of seeded non-default weights."""
    folder = tmp_path_factory.mktemp('export')
    config = folder / 'small.py'
    config.write_text(SMALL_CONFIG)
    torch.manual_seed(0)
    model = init_model(str(config))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ckpt = folder / 'small.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return folder, str(config), str(ckpt)


@pytest.fixture(scope='module')
def exported(tool, small):
    """The small model exported with a dynamic batch, and the tool's
    exit status and output."""
    folder, config, ckpt = small
    out = str(folder / 'small.onnx')
    rc = tool.main([config, ckpt, '--out', out, '--num-points', str(POINTS),
                    '--dynamic-batch'])
    return out, rc


def _all_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)


def test_export_passes_parity_check(exported, capsys):
    path, rc = exported
    assert rc == 0
    assert osp.isfile(path) and osp.getsize(path) > 0
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ['pc1', 'pc2']
    assert [o.name for o in model.graph.output] == [
        'flow', 'flow_level1', 'flow_level2', 'flow_level3']
    ops = {n.op_type for n in _all_nodes(model.graph)}
    # Farthest point sampling is one Loop per level, not unrolled; the
    # neighbours come from TopK; nothing of a custom domain.
    loops = [n for n in model.graph.node if n.op_type == 'Loop']
    assert len(loops) == 4
    assert {'TopK', 'ArgMax', 'MatMul'} <= ops
    assert custom_domains(path) == []


def test_onnxruntime_matches_bpfn_at_other_batch(exported, small):
    path, _ = exported
    _, config, ckpt = small
    model = init_model(config, ckpt)
    gen = torch.Generator().manual_seed(1)
    pc1 = torch.rand(3, POINTS, 3, generator=gen) * 10
    pc2 = pc1 + 0.1 * torch.randn(3, POINTS, 3, generator=gen)
    got = onnx_flows(onnx_session(path, threads=1), pc1, pc2)
    expected = reference_flows(model, pc1, pc2)
    assert [g.shape for g in got] == [(3, POINTS, 3), (3, 128, 3),
                                      (3, 64, 3), (3, 32, 3)]
    # The outputs are the network's flows, (B, N, 3).
    with torch.no_grad():
        flows = model.extract(pc1, pc2)['flows']
    assert torch.equal(expected[0], flows[0])
    # Against the default path and the export path (equal here: no exact
    # distance ties on this scene).
    for export_path in (False, True):
        res = flow_errors(got, reference_flows(model, pc1, pc2, export_path))
        assert res['ok'], res
        assert res['max'] < 1e-5  # measured about 5e-7
    assert not np.allclose(got[0], 0)


def test_tool_fails_when_flows_differ(tool, small, capsys, monkeypatch):
    folder, config, ckpt = small

    def shifted(model, pc1, pc2, export_path=False):
        flows = reference_flows(model, pc1, pc2, export_path)
        flows[1] = flows[1] + 0.01 * flows[1].abs().max()
        return flows

    monkeypatch.setattr(tool, 'reference_flows', shifted)
    rc = tool.main([config, ckpt, '--out', str(folder / 'bad.onnx'),
                    '--num-points', str(POINTS)])
    assert rc == 1
    assert 'FAIL' in capsys.readouterr().out


def test_tied_scene_differs_at_ties_only(exported, small):
    """On an integer grid most distances tie: onnxruntime still equals the
    export path, and the default path takes other tied neighbours only."""
    path, _ = exported
    _, config, ckpt = small
    model = init_model(config, ckpt)
    axis = torch.arange(8, dtype=torch.float32)
    grid = torch.cartesian_prod(axis[:4], axis, axis) * 0.5  # 256 points
    pc1 = grid.unsqueeze(0)
    pc2 = (grid + torch.tensor([0.25, 0., 0.5])).unsqueeze(0)
    got = onnx_flows(onnx_session(path, threads=1), pc1, pc2)
    res = flow_errors(got, reference_flows(model, pc1, pc2, True))
    assert res['ok'] and res['max'] < 1e-5, res
    flows, audit = audited_default_flows(model, pc1, pc2)
    # Levels 1-4 sample once each (both clouds go as one batch).
    assert audit.samplings == 4 and audit.sampling_mismatches == 0
    assert audit.tie_rows > 0 and audit.exact, audit.summary()
    # Without ties (the random scene) nothing differs.
    gen = torch.Generator().manual_seed(1)
    pc1 = torch.rand(1, POINTS, 3, generator=gen) * 10
    _, audit = audited_default_flows(model, pc1, pc1 + 0.1)
    assert audit.searches > 0 and audit.tie_rows == 0 and audit.exact


@pytest.mark.parametrize('exact', [True, False])
def test_default_path_gap_is_judged_by_the_audit(tool, small, capsys,
                                                 monkeypatch, exact):
    """A default-path difference passes only when the audit traces it to
    exact ties."""
    folder, config, ckpt = small
    from bpfn.ops import NeighbourAudit

    def moved(model, pc1, pc2):
        flows = reference_flows(model, pc1, pc2)
        flows[0] = flows[0] + 0.01 * flows[0].abs().max()
        audit = NeighbourAudit(searches=9, rows=900, tie_rows=3,
                               other_rows=0 if exact else 2, samplings=4)
        return flows, audit

    monkeypatch.setattr(tool, 'audited_default_flows', moved)
    rc = tool.main([config, ckpt, '--out', str(folder / 'tie.onnx'),
                    '--num-points', str(POINTS)])
    out = capsys.readouterr().out
    assert 'OUTSIDE the tolerance' in out
    assert '3 rows take other neighbours at exact float32' in out
    if exact:
        assert rc == 0
        assert 'the difference is exact-tie breaking only' in out
    else:
        assert rc == 1
        assert 'FAIL: the paths differ beyond exact ties' in out


def test_export_paths_are_exact():
    """The export paths of the ops give the default paths' results."""
    gen = torch.Generator().manual_seed(0)
    xyz = torch.rand(2, 300, 3, generator=gen) * 5
    with export_algorithms():
        fps = furthest_point_sample(xyz, 40)
        idx = knn(7, xyz, xyz[:, :50])
    assert torch.equal(fps, furthest_point_sample_brute_force(xyz, 40))
    assert torch.equal(fps, furthest_point_sample(xyz, 40))
    assert torch.equal(idx.sort(-1)[0],
                       knn_brute_force(7, xyz, xyz[:, :50]).sort(-1)[0])


def test_export_knn_takes_lower_index_of_equal_distances(tmp_path):
    """Exact ties: the export path, in PyTorch and in onnxruntime, takes
    the lower reference index first, as ONNX TopK specifies."""
    import onnxruntime
    ref = torch.tensor([[[3., 0., 0.], [1., 0., 0.], [0., 2., 0.],
                         [-1., 0., 0.], [0., -1., 0.], [0., 1., 0.]]])
    query = torch.zeros(1, 1, 3)
    with export_algorithms():
        idx = knn(3, ref, query)
    assert idx.tolist() == [[[1, 3, 4]]]

    class Search(torch.nn.Module):

        def forward(self, ref, query):
            return knn(3, ref, query)

    path = str(tmp_path / 'knn.onnx')
    with export_algorithms(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer and exporter notices
        torch.onnx.export(Search(), (ref, query), path, dynamo=False)
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, (ref.numpy(),
                                             query.numpy()))))[0]
    assert got.tolist() == [[[1, 3, 4]]]


def test_wrapper_outputs_points_last(small):
    _, config, ckpt = small
    model = init_model(config, ckpt)
    pc = torch.rand(1, POINTS, 3)
    with torch.no_grad():
        outs = FlowExportWrapper(model)(pc, pc + 0.1)
    assert [tuple(o.shape) for o in outs] == [(1, POINTS, 3), (1, 128, 3),
                                              (1, 64, 3), (1, 32, 3)]


def test_bad_inputs(tool, small, tmp_path, capsys):
    folder, config, ckpt = small
    out = str(tmp_path / 'x.onnx')
    assert tool.main([config, str(tmp_path / 'missing.pth'), '--out',
                      out]) == 2
    assert 'missing.pth' in capsys.readouterr().err
    other = init_model(config, cfg_options=dict(model=dict(weightnet=4)))
    wrong = tmp_path / 'wn4.pth'
    torch.save(dict(state_dict=other.state_dict()), wrong)
    assert tool.main([config, str(wrong), '--out', out]) == 2
    assert 'does not fit BiPointFlowNet' in capsys.readouterr().err
    assert tool.main([config, ckpt, '--out', out, '--num-points', '64']) == 2
    assert 'sample more points' in capsys.readouterr().err
    assert not osp.exists(out)
