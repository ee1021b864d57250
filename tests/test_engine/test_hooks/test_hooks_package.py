"""``bpfn/engine/hooks/__init__.py`` imports every hook module by name: each
module's public names are the package's, and each registered hook is in
HOOKS once ``bpfn.engine.hooks`` is imported."""
import importlib
import pkgutil

import bpfn.engine.hooks as hooks
from bpfn.registry import HOOKS


def test_every_hook_module_is_exported():
    exported = set(hooks.__all__)
    for info in pkgutil.iter_modules(hooks.__path__):
        module = importlib.import_module(f'{hooks.__name__}.{info.name}')
        missing = set(getattr(module, '__all__', [])) - exported
        assert not missing, (f'bpfn/engine/hooks/{info.name}.py: {missing} '
                             'not imported in bpfn/engine/hooks/__init__.py')
    for name in hooks.__all__:
        assert getattr(hooks, name) is not None
        if name.endswith('Hook'):
            assert HOOKS.get(name) is getattr(hooks, name), name
