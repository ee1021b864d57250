import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    """Read one requirements file, skipping comments and includes."""
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith('-')]


def read_version() -> str:
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'bpfn', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='bpfn',
    version=read_version(),
    description='Bi-PointFlowNet scene flow and knowledge distillation '
    'toolkit in pure PyTorch',
    long_description=open('README.md').read() if osp.exists('README.md')
    else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests')),
    package_data={'bpfn': ['datasets/data/*.txt', 'datasets/data/*.csv']},
    include_package_data=True,
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'tests': read_requirements('tests.txt'),
        'optional': read_requirements('optional.txt'),
    },
    zip_safe=False,
)
