"""Tests of bpfn.engine.hooks.EvalProgressHook."""
import io
from types import SimpleNamespace

import pytest

from bpfn.engine.hooks import EvalProgressHook


class _Terminal(io.StringIO):

    def isatty(self) -> bool:
        return True


def _run(hook, total):
    runner = SimpleNamespace(test_dataloader=list(range(total)))
    hook.before_test_epoch(runner)
    for i in range(total):
        hook.after_test_iter(runner, i)


def test_sparse_lines_when_not_a_terminal():
    out = io.StringIO()
    _run(EvalProgressHook(max_lines=4, stream=out), 10)
    lines = out.getvalue().splitlines()
    # At 1/4, 2/4, 3/4 and all of the 10 batches: 3, 5, 8, 10.
    assert [line.split(' ')[1] for line in lines] == [
        '3/10', '5/10', '8/10', '10/10']
    assert lines[0].startswith('test: 3/10 (30%), elapsed 0:00:0')
    assert ', ETA 0:00:0' in lines[0]
    assert 'ETA' not in lines[-1]
    # Fewer batches than lines: one line per batch.
    out = io.StringIO()
    _run(EvalProgressHook(max_lines=5, stream=out), 2)
    assert len(out.getvalue().splitlines()) == 2


def test_bar_redrawn_on_a_terminal():
    out = _Terminal()
    _run(EvalProgressHook(width=10, stream=out), 4)
    text = out.getvalue()
    assert text.count('\r') == 4 and text.endswith('\n')
    assert '\r[#####-----] test: 2/4 (50%)' in text
    assert '\r[##########] test: 4/4 (100%)' in text


def test_bad_max_lines():
    with pytest.raises(ValueError, match='max_lines must be >= 1'):
        EvalProgressHook(max_lines=0)
