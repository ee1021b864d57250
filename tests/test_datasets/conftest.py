"""Fixtures shared by the dataset tests."""
import pytest

from .tiny_data import make_ft3d, make_kitti


@pytest.fixture
def ft3d_root(tmp_path):
    """A processed FT3D folder with 10 train and 3 val samples."""
    root = str(tmp_path / 'ft3d')
    clouds = make_ft3d(root)
    return root, clouds


@pytest.fixture
def kitti_root(tmp_path):
    """A processed KITTI folder with scenes 000002 and 000003."""
    root = str(tmp_path / 'kitti')
    clouds = make_kitti(root, ['000002', '000003'])
    return root, clouds
