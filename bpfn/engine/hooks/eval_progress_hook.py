"""A progress bar with ETA for validation and test."""
import sys
import time
from typing import Optional, TextIO

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from bpfn.registry import HOOKS

__all__ = ['EvalProgressHook']


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


@HOOKS.register_module()
class EvalProgressHook(Hook):
    """Show validation and test progress, elapsed time and ETA.

    On a terminal one line is redrawn after every batch, with a bar; when
    the output is not a terminal (a log file, a pipe) a line is printed
    each time another ``1 / max_lines`` of the batches is done, so a log
    holds at most ``max_lines`` lines per loop. Written to the console
    (``stream``) only, by the main process; the log file keeps MMEngine's
    per-interval lines.

    Example (not a terminal, 32 test batches)::

        test: 7/32 (22%), elapsed 0:00:03, ETA 0:00:11
        ...
        test: 32/32 (100%), elapsed 0:00:14

    Args:
        max_lines (int): Lines per loop when not on a terminal.
            Defaults to 5.
        width (int): Bar width in characters on a terminal. Defaults to 30.
        stream (TextIO, optional): Where to write. Defaults to None
            (``sys.stdout`` at the time of writing).
    """

    priority = 'LOW'

    def __init__(self, max_lines: int = 5, width: int = 30,
                 stream: Optional[TextIO] = None) -> None:
        if max_lines < 1:
            raise ValueError(f'max_lines must be >= 1, got {max_lines}')
        self.max_lines = max_lines
        self.width = width
        self.stream = stream
        self._mode = ''
        self._total = 0
        self._start = 0.0
        self._printed = 0

    # ------------------------------------------------------------------
    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def _tty(self) -> bool:
        isatty = getattr(self._out(), 'isatty', None)
        return bool(isatty and isatty())

    def _begin(self, mode: str, dataloader) -> None:
        self._mode = mode
        try:
            self._total = len(dataloader)
        except TypeError:
            self._total = 0
        self._start = time.perf_counter()
        self._printed = 0

    def line(self, done: int, elapsed: float) -> str:
        """The progress text after ``done`` batches and ``elapsed`` s."""
        total = self._total
        if not total:
            return f'{self._mode}: {done} batches, elapsed {_clock(elapsed)}'
        text = (f'{self._mode}: {done}/{total} ({100 * done // total}%), '
                f'elapsed {_clock(elapsed)}')
        if done < total:
            eta = elapsed / max(done, 1) * (total - done)
            text += f', ETA {_clock(eta)}'
        return text

    def _update(self, batch_idx: int) -> None:
        if not is_main_process():
            return
        done = batch_idx + 1
        elapsed = time.perf_counter() - self._start
        out = self._out()
        if self._tty():
            filled = self.width * done // self._total if self._total else 0
            bar = '#' * filled + '-' * (self.width - filled)
            end = '\n' if done == self._total else ''
            out.write(f'\r[{bar}] {self.line(done, elapsed)}\033[K{end}')
            out.flush()
            return
        # Not a terminal: a line at each 1 / max_lines of the batches.
        step = self._total / self.max_lines if self._total else 0
        due = done == self._total or (
            step and done >= step * (self._printed + 1))
        if due:
            self._printed += 1
            out.write(self.line(done, elapsed) + '\n')
            out.flush()

    # ------------------------------------------------------------------
    def before_val_epoch(self, runner) -> None:
        """Start counting the validation batches."""
        self._begin('val', runner.val_dataloader)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs=None) -> None:
        """Count a validation batch."""
        self._update(batch_idx)

    def before_test_epoch(self, runner) -> None:
        """Start counting the test batches."""
        self._begin('test', runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        """Count a test batch."""
        self._update(batch_idx)
