"""FeatureRecorder / RecorderManager: what is recorded, and when."""
import pytest
import torch
from torch import nn

from bpfn.models.distillers.recorder import (FeatureRecorder,
                                             RecorderManager, parse_tap)


class Pair(nn.Module):
    """Returns a tuple; its inner layer runs once per item."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(2, 2)

    def forward(self, x):
        return self.inner(x), self.inner(x + 1)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), Pair())


def test_parse_tap():
    assert parse_tap('cross2.embedding_12', 'f') == ('cross2.embedding_12',
                                                     None)
    assert parse_tap('cross2[1]', 'f') == ('cross2', 1)
    with pytest.raises(ValueError, match=r"f: 'cross2\[x\]' is not"):
        parse_tap('cross2[x]', 'f')


def test_records_within_a_step_only():
    net = _net()
    rec = FeatureRecorder('student', net, {'0': 'a', '3[1]': 'b'})
    manager = RecorderManager([rec])
    x = torch.ones(1, 2)
    expected = net[0](x)  # outside a step: nothing recorded
    assert rec.outputs == {} and rec.calls == {}
    with manager.step():
        out = net(x)
        assert torch.equal(rec.feature('0'), expected)
        assert torch.equal(rec.feature('3[1]'), out[1])
        with manager.step():  # nested: part of the outer step
            pass
        assert rec.calls == {'0': 1, '3': 1}
        with pytest.raises(TypeError, match=r"pick an item with '3\[i\]'"):
            rec.feature('3')
    assert rec.outputs == {} and not rec.recording
    with pytest.raises(RuntimeError, match="'0' did not run"):
        rec.feature('0')


def test_wrong_name_and_module_run_twice():
    net = _net()
    with pytest.raises(KeyError, match=r"f: no module named '3.iner' in "
                       r"the teacher \(Sequential\) \(did you mean "
                       r"\['3.inner'\]\?\)"):
        FeatureRecorder('teacher', net, {'3.iner': 'f'})
    rec = FeatureRecorder('teacher', net, {'3.inner': 'f'})
    with RecorderManager([rec]).step():
        net(torch.ones(1, 2))
        with pytest.raises(ValueError,
                           match="teacher module '3.inner' ran 2 times"):
            rec.feature('3.inner')


def test_run_to_last_tap_stops_after_it():
    net = _net()
    rec = FeatureRecorder('teacher', net, {'0': 'f'})
    manager = RecorderManager([rec])
    ran = []
    net[2].register_forward_hook(lambda m, a, o: ran.append('2'))
    x = torch.ones(1, 2)
    expected = net[0](x)
    ran.clear()
    with pytest.raises(RuntimeError, match='within a step only'):
        rec.run_to_last_tap(lambda: net(x))
    with manager.step():
        rec.run_to_last_tap(lambda: net(x))  # first: whole, to check calls
        assert ran == ['2']
    with manager.step():
        rec.run_to_last_tap(lambda: net(x))  # then stops after net[0]
        assert ran == ['2'] and torch.equal(rec.feature('0'), expected)
    # A small-cloud check does not count as seeing a tap run once.
    fresh = FeatureRecorder('teacher', net, {'0': 'f'})
    small = RecorderManager([fresh])
    with small.step(full_size=False):
        net(x)
        fresh.feature('0')
    assert ran == ['2', '2']
    with small.step():
        fresh.run_to_last_tap(lambda: net(x))  # still runs whole
    assert ran == ['2', '2', '2']
