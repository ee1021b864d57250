"""``bpfn.utils`` is a leaf: it imports none of the packages above it."""
import ast
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Tuple

REPO = Path(__file__).resolve().parents[2]
UTILS = REPO / 'bpfn' / 'utils'
#: The packages of bpfn that build on ``bpfn.utils``.
ABOVE = ('bpfn.models', 'bpfn.engine', 'bpfn.evaluation', 'bpfn.datasets',
         'bpfn.apis', 'bpfn.visualization', 'bpfn.analysis')


def imported_modules(source: str, package: str) -> Iterator[Tuple[int, str]]:
    """``(line, absolute name)`` of everything ``source`` imports.

    Imports at the top and inside functions alike; relative imports are
    resolved against ``package``, the package of the file.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f'{base}.{alias.name}'


def is_above(name: str) -> bool:
    return any(name == top or name.startswith(top + '.') for top in ABOVE)


def test_the_import_parser_resolves_relative_and_lazy_imports():
    source = ('from ..models import x\nfrom .fileio import y\n'
              'def f():\n    import bpfn.engine.hooks\n'
              'from .. import apis\n')
    found = set(imported_modules(source, 'bpfn.utils'))
    assert {(1, 'bpfn.models'), (1, 'bpfn.models.x'),
            (2, 'bpfn.utils.fileio'), (4, 'bpfn.engine.hooks'),
            (5, 'bpfn.apis')} <= found
    assert {n for _, n in found if is_above(n)} == {
        'bpfn.models', 'bpfn.models.x', 'bpfn.engine.hooks', 'bpfn.apis'}
    assert is_above('bpfn.models.x') and not is_above('bpfn.modelsx')
    assert not is_above('bpfn.utils.fileio') and not is_above('bpfn.ops')


def test_no_source_file_imports_upwards():
    files = sorted(UTILS.rglob('*.py'))
    assert len(files) >= 5
    upward = []
    for path in files:
        package = '.'.join(path.relative_to(REPO).parent.parts)
        for line, name in imported_modules(path.read_text(), package):
            if is_above(name):
                upward.append(
                    f'{path.relative_to(REPO)}:{line} imports {name}')
    assert not upward, ('bpfn/utils must not import the packages above '
                        'it:\n' + '\n'.join(sorted(set(upward))))


def test_importing_utils_loads_nothing_above_it():
    code = ('import sys, bpfn.utils, bpfn.utils.tool_utils; '
            'print(" ".join(m for m in sys.modules if m.startswith("bpfn")))')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.split()
    assert 'bpfn.utils.checkpoint' in loaded
    assert [m for m in loaded if is_above(m)] == []
