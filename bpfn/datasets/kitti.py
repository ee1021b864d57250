"""KITTI scene flow 2015 in the HPLFlowNet processed layout."""
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np

from bpfn.registry import DATASETS
from .base_flow_dataset import BaseSceneFlowDataset
from .utils import (KITTI_CALIB_FILE, KITTI_SCENES_FILE, check_data_root,
                    load_kitti_calibration, normalize_scene_names,
                    read_scene_list)

KITTI_LAYOUT = '<data_root>/<scene>/pc1.npy, pc2.npy'


@DATASETS.register_module()
class KITTI(BaseSceneFlowDataset):
    """KITTI scene flow 2015, evaluated without fine-tuning.

    Each scene folder holds ``pc1.npy`` and ``pc2.npy`` with corresponding
    rows (flow = ``pc2 - pc1``), stored as written by
    ``tools/create_data.py kitti``: x to the left, y up, z forward (the
    camera's x and y negated), so the ground lies near ``y = -1.65`` m and
    the ``GroundRemoval`` transform drops points with ``y < -1.4`` in both
    clouds. No axis is flipped when loading.

    Every sample's ``camera`` is ``{'P_rect_02': 3x4 nested list}`` from the
    calibration table (the one shipped with bpfn by default).

    Scene names are strings of six digits. Integers and shorter digit
    strings are zero-padded (``--cfg-options
    "test_dataloader.dataset.scenes=['000002']"`` reaches the config as the
    integer 2), a repeated scene is used once with a warning, and an empty
    list is an error.

    Args:
        data_root (str): Folder holding one sub-folder per scene.
        scenes (Sequence[str | int] | str | int, optional): Scene names, a
            single scene number, or a text file with one name per line.
            Defaults to the 142 standard scenes.
        calib_file (str, optional): CSV table of ``P_rect_02`` per scene.
            Defaults to the table shipped with bpfn.
        **kwargs: See :class:`BaseSceneFlowDataset`.
    """

    METAINFO = dict(dataset_name='KITTI')

    def __init__(self,
                 data_root: str,
                 scenes: Optional[Union[Sequence[Union[str, int]], str,
                                        int]] = None,
                 calib_file: Optional[str] = None,
                 **kwargs) -> None:
        self.scenes = scenes
        self.calib_file = calib_file or KITTI_CALIB_FILE
        super().__init__(data_root=data_root, **kwargs)

    def _scene_names(self) -> List[str]:
        """The scene names to use and where they come from."""
        scenes = self.scenes
        if scenes is None:
            self.selection = 'the standard scene list'
            return read_scene_list(KITTI_SCENES_FILE)
        if isinstance(scenes, str):
            if not osp.isfile(scenes):
                raise FileNotFoundError(
                    f'KITTI: scenes={scenes!r} is not a file; give a scene '
                    "list file or a list of names (scenes=['000002'])")
            names = read_scene_list(scenes)
            if not names:
                raise ValueError(f'KITTI: the scene list file {scenes} is '
                                 'empty; expected one scene name per line')
            self.selection = f'scenes from {scenes}'
            return normalize_scene_names(names, f'KITTI ({scenes})')
        if isinstance(scenes, (int, np.integer)) and not isinstance(
                scenes, bool):
            scenes = [scenes]
        if not isinstance(scenes, (list, tuple)):
            raise ValueError(
                f'KITTI: scenes must be a list of names, a file or None, got '
                f'{type(scenes).__name__} {scenes!r}')
        self.selection = 'scenes given'
        return normalize_scene_names(scenes, 'KITTI')

    def load_data_list(self) -> List[dict]:
        """List the scenes with their files and calibration.

        Returns:
            list[dict]: One info dict per scene with ``sample_name``,
            ``pc1_path``, ``pc2_path`` and ``camera``.
        """
        check_data_root(self.data_root, 'KITTI', KITTI_LAYOUT)
        calib = load_kitti_calibration(self.calib_file)
        names = self._scene_names()
        missing = [
            n for n in names if not osp.isdir(osp.join(self.data_root, n))
        ]
        if missing:
            raise FileNotFoundError(
                f'KITTI: {len(missing)} of {len(names)} scene folder(s) '
                f'missing in {self.data_root!r}, e.g. '
                f'{osp.join(self.data_root, missing[0])}; expected the '
                f'layout {KITTI_LAYOUT}')
        self.selection += f' in {self.data_root}'
        data_list = []
        for name in names:
            if name not in calib:
                raise ValueError(
                    f'KITTI: scene {name!r} has no P_rect_02 entry in the '
                    f'calibration table {self.calib_file}')
            folder = osp.join(self.data_root, name)
            data_list.append(
                dict(
                    sample_name=name,
                    pc1_path=osp.join(folder, 'pc1.npy'),
                    pc2_path=osp.join(folder, 'pc2.npy'),
                    flip_axes=(),
                    camera=dict(P_rect_02=calib[name])))
        return data_list
