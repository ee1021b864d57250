"""Forward hooks that record what tapped modules return during a step.

A :class:`FeatureRecorder` holds the hooks of one network (the student or
the teacher) on the modules that distillation entries tap; a
:class:`RecorderManager` holds both and opens the window in which they
record::

    with recorders.step():          # records cleared on entry and exit
        student(inputs, mode='tensor')
        s = recorders['student'].feature('cross2.embedding_12')

Outside :meth:`RecorderManager.step` the hooks record nothing, so a network
run on its own (prediction, a benchmark, a user's call) leaves no record
behind. The hooks stay registered for the distiller's lifetime.
"""
import contextlib
import difflib
import re
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple

from torch import Tensor, nn

_TAP = re.compile(r'^(?P<name>[\w.]*?)(\[(?P<index>\d+)\])?$')


class TapsDone(Exception):
    """Raised by a hook once every tapped module of a net has run."""


def parse_tap(tap: str, field: str) -> Tuple[str, Optional[int]]:
    """``'cross2[0]'`` -> ``('cross2', 0)``; ``'cross2'`` -> ``('cross2',
    None)``.

    Args:
        tap (str): A module name, optionally with an item index.
        field (str): Config field of the name, for the message.

    Returns:
        tuple[str, int | None]: Module name and item index.
    """
    match = _TAP.match(tap) if isinstance(tap, str) else None
    if match is None or not match.group('name'):
        raise ValueError(f'{field}: {tap!r} is not a module name like '
                         "'cross2.embedding_12' or 'cross2[0]'")
    index = match.group('index')
    return match.group('name'), None if index is None else int(index)


class FeatureRecorder:
    """Records the outputs of the tapped modules of one network.

    Args:
        role (str): ``'student'`` or ``'teacher'``, for messages.
        model (nn.Module): The network.
        taps (dict[str, str]): Each tap (``'name'`` or ``'name[i]'``) and
            the config field that names it (for messages).
    """

    def __init__(self, role: str, model: nn.Module,
                 taps: Dict[str, str]) -> None:
        self.role = role
        self.model_name = type(model).__name__
        #: Module names tapped.
        self.names = set()
        #: Output of each tapped module in the current step.
        self.outputs: Dict[str, Any] = {}
        #: Calls of each tapped module in the current step.
        self.calls: Dict[str, int] = {}
        self.recording = False
        #: Whether reading a feature proves that its module runs once per
        #: pass (not on the distiller's small dry run).
        self.full_size = True
        self._stop_early = False
        # Taps seen to run once in a whole pass (early stop relies on it).
        self._checked: set = set()
        modules = dict(model.named_modules())
        valid = sorted(n for n in modules if n)
        for tap, field in sorted(taps.items()):
            name, _ = parse_tap(tap, field)
            if name not in modules:
                close = difflib.get_close_matches(name, valid, n=3)
                hint = f' (did you mean {close}?)' if close else ''
                raise KeyError(
                    f'{field}: no module named {name!r} in the {role} '
                    f'({self.model_name}){hint}. Valid names: '
                    + ', '.join(valid))
            if name not in self.names:
                self.names.add(name)
                modules[name].register_forward_hook(self._hook(name))

    def _hook(self, name: str) -> Callable:

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not self.recording:
                return
            self.calls[name] = self.calls.get(name, 0) + 1
            self.outputs[name] = output
            if self._stop_early and self.names <= self.outputs.keys():
                raise TapsDone

        return hook

    def clear(self) -> None:
        """Forget the outputs and calls recorded so far."""
        self.outputs.clear()
        self.calls.clear()

    def check_single_call(self, name: str) -> None:
        """Refuse a tapped module that ran more than once in the step."""
        calls = self.calls.get(name, 1)
        if calls > 1:
            raise ValueError(
                f'the {self.role} module {name!r} ran {calls} times in one '
                'forward pass (it is applied per direction or per chunk of '
                'points), so it has no single output to distil; tap a module '
                "that runs once, such as 'cross2', 'cross2.embedding_12' or "
                "'flow2'")

    def feature(self, tap: str) -> Tensor:
        """The recorded output of ``tap`` in the current step.

        Args:
            tap (str): ``'name'`` or ``'name[i]'``.

        Returns:
            Tensor: The module's output (or its item ``i``).
        """
        name, index = parse_tap(tap, self.role)
        out = self.outputs.get(name)
        if out is None:
            raise RuntimeError(f'the {self.role} module {name!r} did not run '
                               'in this forward pass')
        self.check_single_call(name)
        if self.full_size and not self._stop_early:
            self._checked.add(name)
        if index is not None:
            if not isinstance(out, (tuple, list)) or index >= len(out):
                raise IndexError(f'{self.role} tap {tap!r}: module output is '
                                 f'not a sequence with an item {index}')
            return out[index]
        if isinstance(out, (tuple, list)):
            raise TypeError(f'{self.role} module {name!r} returns a '
                            f'{type(out).__name__} of {len(out)}; pick an '
                            f"item with '{name}[i]' or use an identity tap")
        return out

    def run_to_last_tap(self, run: Callable[[], Any]) -> None:
        """Call ``run`` (a forward of the net) until its last tap has run.

        Until every tap has been seen to run once in a whole pass (here or
        through :meth:`feature`), the call runs whole, so that a tap of a
        module running more than once is refused before stopping early
        relies on it; later calls stop right after the last tapped module.

        Args:
            run (Callable): Runs the network's forward.
        """
        if not self.recording:
            raise RuntimeError(
                f'the {self.role} taps record within a step only: run it '
                'inside RecorderManager.step()')
        if not self.names <= self._checked:
            run()
            for name in self.names:
                self.check_single_call(name)
            self._checked |= self.names
            return
        self._stop_early = True
        try:
            run()
        except TapsDone:
            return
        finally:
            self._stop_early = False
        raise RuntimeError(f'the {self.role} modules {sorted(self.names)} '
                           'did not all run')


class RecorderManager:
    """The recorders of a distiller's networks, and their recording window.

    Args:
        recorders (Iterable[FeatureRecorder]): One per network (role).
    """

    def __init__(self, recorders: Iterable[FeatureRecorder]) -> None:
        self.recorders = {r.role: r for r in recorders}
        self._depth = 0

    def __getitem__(self, role: str) -> FeatureRecorder:
        return self.recorders[role]

    def clear(self, role: Optional[str] = None) -> None:
        """Forget the records of one network, or of all."""
        for key, recorder in self.recorders.items():
            if role is None or key == role:
                recorder.clear()

    @contextlib.contextmanager
    def step(self, full_size: bool = True) -> Iterator['RecorderManager']:
        """Record inside; records are cleared on entry and on exit.

        A step opened inside another one is part of it: the outer step's
        records and ``full_size`` stay until it ends.

        Args:
            full_size (bool): The clouds are of training size. False for a
                check on small clouds, where a module that runs once per
                chunk of points may run only once. Defaults to True.

        Yields:
            RecorderManager: Itself.
        """
        if self._depth == 0:
            self.clear()
            for recorder in self.recorders.values():
                recorder.recording = True
                recorder.full_size = full_size
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                for recorder in self.recorders.values():
                    recorder.recording = False
                    recorder.full_size = True
                self.clear()
