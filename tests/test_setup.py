"""setup.py: the extras are read from requirements/*.txt."""
import ast
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _setup_tree():
    with open(osp.join(REPO, 'setup.py')) as f:
        return ast.parse(f.read())


def _read_requirements():
    """setup.py's ``read_requirements``, without running ``setup()``."""
    tree = _setup_tree()
    func = next(node for node in tree.body
                if isinstance(node, ast.FunctionDef)
                and node.name == 'read_requirements')
    scope = dict(osp=osp, __file__=osp.join(REPO, 'setup.py'))
    exec(compile(ast.Module(body=[func], type_ignores=[]), 'setup.py',
                 'exec'), scope)
    return scope['read_requirements']


def _file_lines(name):
    with open(osp.join(REPO, 'requirements', name)) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith('-')]


def test_extras_are_read_from_the_requirement_files():
    tree = _setup_tree()
    call = next(node for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and getattr(node.func, 'id', None) == 'setup')
    keywords = {k.arg: k.value for k in call.keywords}
    extras = keywords['extras_require']
    files = {}
    for key, value in zip(extras.keys, extras.values):
        # Each extra is read_requirements('<file>'), no inline list.
        assert isinstance(value, ast.Call), ast.unparse(value)
        assert value.func.id == 'read_requirements'
        files[key.value] = value.args[0].value
    assert files == {'tests': 'tests.txt', 'optional': 'optional.txt'}
    assert ast.unparse(keywords['install_requires']) == \
        "read_requirements('runtime.txt')"
    read = _read_requirements()
    for name in ('runtime.txt', 'tests.txt', 'optional.txt'):
        assert read(name) == _file_lines(name)
    assert 'tensorboard' in read('optional.txt')
    assert 'torch>=2.1' in read('runtime.txt')
