"""``tools/model_converters/publish_model.py``: weights only, hash suffix,
both published forms load with ``init_model`` and give the same flows."""
import hashlib
import os
import os.path as osp
import re

import pytest
import torch

from bpfn.apis import init_model
from bpfn.utils import CheckpointError, load_checkpoint_file
from bpfn_test_utils import load_script

safetensors = pytest.importorskip(
    'safetensors', reason='the .safetensors form needs the optional package '
    'safetensors (requirements/optional.txt)')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'model_converters', 'publish_model.py')
NET = dict(
    type='BiPointFlowNet', num_points=[32, 16, 16, 8], feat_neighbors=4,
    flow_neighbors=4, estimator_neighbors=4, width_mult=0.25,
    estimator_channels=[32, 32], estimator_mlp=[32, 16])
CONFIG = f"default_scope = 'bpfn'\nmodel = {NET!r}\n"


@pytest.fixture(scope='module')
def tool():
    return load_script(SCRIPT, 'publish_model')


def _sha256(path) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def training_ckpt(tmp_path):
    """A training checkpoint: weights, optimizer, message hub, meta."""
    config = tmp_path / 'net.py'
    config.write_text(CONFIG)
    torch.manual_seed(0)
    model = init_model(str(config))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    optimizer = torch.optim.Adam(model.parameters())
    model(dict(pc1=torch.rand(1, 64, 3), pc2=torch.rand(1, 64, 3)),
          mode='tensor')['flows'][0].sum().backward()
    optimizer.step()
    path = tmp_path / 'epoch_3.pth'
    torch.save(dict(meta=dict(epoch=3, iter=30, seed=0),
                    state_dict=model.state_dict(),
                    optimizer=optimizer.state_dict(),
                    message_hub=dict(log_scalars={'loss': [1.0, 0.5]})),
               path)
    return str(config), str(path), model


def _flows(model, gen_seed=1):
    gen = torch.Generator().manual_seed(gen_seed)
    pc1 = torch.rand(2, 64, 3, generator=gen) * 4
    with torch.no_grad():
        return model(dict(pc1=pc1, pc2=pc1 + 0.05), mode='tensor')['flows']


def test_publish_both_forms(tool, training_ckpt, tmp_path, capsys):
    config, src, model = training_ckpt
    assert tool.main([src, str(tmp_path / 'pub' / 'net.pth'),
                      '--safetensors', '--config', config]) == 0
    out = capsys.readouterr().out
    written = sorted(os.listdir(tmp_path / 'pub'))
    assert len(written) == 2  # no temporary file left
    for name in written:
        match = re.fullmatch(r'net-([0-9a-f]{8})\.(pth|safetensors)', name)
        assert match, name
        path = tmp_path / 'pub' / name
        # The suffix is the first 8 hex digits of the file's SHA-256.
        assert _sha256(path)[:8] == match.group(1)
        assert _sha256(path) in out
    pth = next(str(tmp_path / 'pub' / n) for n in written
               if n.endswith('.pth'))
    st = next(str(tmp_path / 'pub' / n) for n in written
              if n.endswith('.safetensors'))
    ckpt = load_checkpoint_file(pth)
    assert set(ckpt) == {'meta', 'state_dict'}  # no optimizer, no hub
    assert ckpt['meta']['epoch'] == 3
    assert ckpt['meta']['published_from'] == 'epoch_3.pth'
    expected = _flows(model)
    for path in (pth, st):
        loaded = init_model(config, path)
        for a, b in zip(_flows(loaded), expected):
            assert torch.equal(a, b)
    assert set(safetensors.torch.load_file(st)) == set(model.state_dict())


def test_safetensors_loads_without_unpickling(tool, training_ckpt, tmp_path,
                                              monkeypatch):
    config, src, model = training_ckpt
    st = tool.publish_model(src, str(tmp_path / 'net'), safetensors=True)[1]

    def no_unpickling(*args, **kwargs):
        raise AssertionError('torch.load called for a .safetensors file')

    monkeypatch.setattr(torch, 'load', no_unpickling)
    loaded = init_model(config, st)
    for a, b in zip(loaded.state_dict().values(),
                    model.state_dict().values()):
        assert torch.equal(a, b)


def test_distiller_checkpoint_publishes_student(tool, tmp_path):
    from mmengine.registry import init_default_scope
    from bpfn.registry import MODELS
    init_default_scope('bpfn')
    student_cfg = tmp_path / 'student.py'
    student_cfg.write_text(
        f"default_scope = 'bpfn'\nmodel = {dict(NET, weightnet=4)!r}\n")
    torch.manual_seed(0)
    student = MODELS.build(dict(NET, weightnet=4))
    teacher = MODELS.build(NET)
    state = {f'student.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    src = tmp_path / 'distill.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), src)
    pth, st = tool.publish_model(str(src), str(tmp_path / 'wn4.pth'),
                                 safetensors=True)
    ckpt = load_checkpoint_file(pth)
    assert list(ckpt['state_dict']) == list(student.state_dict())
    for path in (pth, st):
        loaded = init_model(str(student_cfg), path)
        for a, b in zip(_flows(loaded), _flows(student.eval())):
            assert torch.equal(a, b)


def test_bad_inputs(tool, training_ckpt, tmp_path, capsys):
    config, src, _ = training_ckpt
    missing = str(tmp_path / 'missing.pth')
    assert tool.main([missing, str(tmp_path / 'out.pth')]) == 1
    assert 'missing.pth' in capsys.readouterr().err
    # Weights of another architecture: refused before anything is written.
    other = tmp_path / 'other.py'
    other.write_text(f"default_scope = 'bpfn'\nmodel = "
                     f"{dict(NET, weightnet=4)!r}\n")
    assert tool.main([src, str(tmp_path / 'pub' / 'x.pth'), '--config',
                      str(other)]) == 1
    assert 'does not fit BiPointFlowNet' in capsys.readouterr().err
    assert not osp.exists(tmp_path / 'pub')
    # A published file that does not fit the config, and a cut-short one.
    pth, st = tool.publish_model(src, str(tmp_path / 'net'),
                                 safetensors=True)
    for path in (pth, st):
        with pytest.raises(CheckpointError, match='does not fit'):
            init_model(str(other), path)
    data = open(st, 'rb').read()
    cut = tmp_path / 'cut.safetensors'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='cut.safetensors is truncated'):
        init_model(config, str(cut))
    with pytest.raises(FileNotFoundError, match='nothing.safetensors'):
        init_model(config, str(tmp_path / 'nothing.safetensors'))
