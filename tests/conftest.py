"""Shared test fixtures."""
import os
from pathlib import Path

import bpfn_test_hooks  # noqa: F401 (registers the test-only hooks)
import pytest
import torch
from bpfn_test_utils import run_tool, write_tiny_config

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
# The tools the tests run in subprocesses inherit this environment; the
# tiny config's custom_imports finds bpfn_test_hooks on their path.
os.environ['PYTHONPATH'] = os.pathsep.join(
    [p for p in (os.environ.get('PYTHONPATH'), str(TESTS_DIR)) if p])
REFERENCE_FILE = REPO_ROOT.parent / 'shared' / 'fixtures' / 'bpfn_reference.pt'


@pytest.fixture(scope='session')
def bpfn_reference() -> dict:
    """Outputs of the original BPF implementation (``../shared/fixtures``)."""
    if not REFERENCE_FILE.is_file():
        pytest.skip('reference fixture ../shared/fixtures/bpfn_reference.pt '
                    'is absent beside the repository; the comparison with '
                    'the original implementation cannot run')
    return torch.load(REFERENCE_FILE, weights_only=False)


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def tiny_config(tmp_path):
    """Path of a tiny synthetic config (2 epochs of 4 iterations)."""
    return write_tiny_config(tmp_path)


@pytest.fixture(scope='session')
def trained_checkpoint(tmp_path_factory):
    """Config and checkpoint of one tiny epoch (4 iterations, 4 val samples).
    """
    folder = tmp_path_factory.mktemp('trained')
    config = write_tiny_config(folder, epochs=1, nval=4)
    proc = run_tool('train.py', config, '--work-dir', str(folder / 'work'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Kept for the console tests (tests/test_tools/test_console.py).
    (folder / 'train.stdout').write_text(proc.stdout)
    return config, str(folder / 'work' / 'epoch_1.pth')
