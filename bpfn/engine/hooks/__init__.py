"""Runner hooks of bpfn; each module registers its hooks in HOOKS."""
import importlib
import pkgutil

__all__ = []
for _info in pkgutil.iter_modules(__path__):
    _module = importlib.import_module(f'{__name__}.{_info.name}')
    for _name in getattr(_module, '__all__', []):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
