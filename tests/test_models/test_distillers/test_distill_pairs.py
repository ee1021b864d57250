"""The parsing and pair checks of model.distill_losses."""
import pytest
import torch

from bpfn.models.distillers.distill_pairs import (DistillEntries, check_pair,
                                                   loss_name)

FIELD = 'model.distill_losses[0]'


def test_check_pair_refuses_what_cannot_be_compared():
    s, t = torch.zeros(2, 64, 16), torch.zeros(2, 64, 32)
    check_pair(FIELD, 'a', 'b', s, t, adapted=True)  # the adapter maps C
    check_pair(FIELD, 'a', 'b', t, t, adapted=False)
    with pytest.raises(ValueError, match=r"channel mismatch, student 'a' "
                       r"\(2, 64, 16\) vs teacher 'b' \(2, 64, 32\) "
                       r'\(B, N, C\); add adapter'):
        check_pair(FIELD, 'a', 'b', s, t, adapted=False)
    with pytest.raises(ValueError, match="'a' has 32 points in the student "
                       "but 'b' has 64 in the teacher"):
        check_pair(FIELD, 'a', 'b', torch.zeros(2, 32, 32), t, adapted=True)
    with pytest.raises(ValueError, match=r"\.teacher: 'b' gives tuple, "
                       r'expected features \(B, N, C\)'):
        check_pair(FIELD, 'a', 'b', s, (t, t), adapted=True)


def test_entries_route_losses_by_base_class():
    entries = DistillEntries([
        dict(type='HintLoss', student=['x', 'y'], teacher=['u', 'v'],
             adapter=dict(type='ConvAdapter')),
        dict(type='OutputKDLoss'),
        dict(type='HintLoss', student='x', teacher='w')])
    assert entries.pairs == [[('x', 'u', '0_0'), ('y', 'v', '0_1')], [],
                             [('x', 'w', None)]]
    assert sorted(entries.adapter_cfgs) == ['0_0', '0_1']
    assert entries.taps == dict(
        student={'x': f'{FIELD}.student', 'y': f'{FIELD}.student'},
        teacher={'u': f'{FIELD}.teacher', 'v': f'{FIELD}.teacher',
                 'w': 'model.distill_losses[2].teacher'})
    assert [loss_name(i, loss) for i, loss in enumerate(entries.losses)] == [
        'loss_hint0', 'loss_outputkd1', 'loss_hint2']
    with pytest.raises(ValueError, match='2 student names but 1 teacher'):
        DistillEntries([dict(type='HintLoss', student=['x', 'y'],
                             teacher='u')])
    with pytest.raises(ValueError, match='compares flows; remove'):
        DistillEntries([dict(type='OutputKDLoss', student='x')])
    with pytest.raises(ValueError, match='self_supervised_losses'):
        DistillEntries([dict(type='ChamferLoss')])
