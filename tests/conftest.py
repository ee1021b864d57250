"""Shared test fixtures."""
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
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
