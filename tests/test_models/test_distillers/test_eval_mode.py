import pytest
from torch import nn

from bpfn.models.distillers.eval_mode import evaluating


@pytest.mark.parametrize('training', [True, False])
def test_evaluating_restores_the_mode(training):
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train(training)
    with evaluating(net) as inside:
        assert inside is net
        assert not net.training and not net[1].training
    assert net.training is training and net[1].training is training
    # Also when the block raises.
    with pytest.raises(RuntimeError), evaluating(net):
        raise RuntimeError('stop')
    assert net.training is training
