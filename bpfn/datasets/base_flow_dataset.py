"""Base class of the scene flow datasets."""
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from bpfn.registry import TRANSFORMS


class BaseSceneFlowDataset(BaseDataset):
    """Common behaviour of the bpfn scene flow datasets.

    Subclasses implement :meth:`load_data_list`, returning one info dict per
    sample with at least ``sample_name``; this class adds ``dataset`` (the
    dataset name used to group metrics), ``camera`` (unless the subclass set a
    per-sample one), ``test_mode`` and, where the metainfo gives one,
    ``frame_interval`` (seconds between the two clouds of a sample) to every
    sample before the pipeline.

    :meth:`labeled_mask` says which samples carry ground-truth flow (all of
    them unless a subclass says otherwise); the
    :class:`~bpfn.datasets.LabeledShareBatchSampler` reads it to mix
    labelled and unlabelled samples in a batch.

    The pipeline is built with bpfn's transform registry, so datasets can be
    built from configs without a default scope. When the sample list is
    read (at build time, or at first use with ``lazy_init``), one line
    reports how many samples are used and how they were chosen
    (:meth:`size_report`).

    Args:
        data_root (str): Root folder of the processed data. Defaults to ''.
        pipeline (Sequence[dict | Callable]): Transforms. Defaults to ().
        dataset_name (str, optional): Name stored in every sample's
            ``dataset`` field. Defaults to the class ``METAINFO``.
        test_mode (bool): Evaluation mode (deterministic transforms).
            Defaults to False.
        lazy_init (bool): Postpone reading the file list until first use.
            Defaults to False.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`
            (``indices``, ``serialize_data``, ``max_refetch``).
    """

    METAINFO: dict = dict(dataset_name='SceneFlow')
    #: Camera given to samples that do not carry their own.
    DEFAULT_CAMERA: Union[str, dict] = 'ft3d'

    def __init__(self,
                 data_root: str = '',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 dataset_name: Optional[str] = None,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 **kwargs) -> None:
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        if dataset_name is not None:
            metainfo['dataset_name'] = dataset_name
        built: List[Callable] = [
            TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline
        ]
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=dict(),
            pipeline=built,
            test_mode=test_mode,
            lazy_init=lazy_init,
            **kwargs)

    #: How the samples were chosen, set by :meth:`load_data_list` (e.g.
    #: ``'every_k=4, offset=0 of 19640 in data/ft3d/train'``).
    selection: str = ''

    def full_init(self) -> None:
        """Read the sample list, then report its size in one line."""
        if self._fully_initialized:
            return
        super().full_init()
        print_log(self.size_report(), logger='current')

    def size_report(self) -> str:
        """One line: the samples used and how they were chosen.

        Returns:
            str: E.g. ``'FlyingThings3D (train): 4910 samples (every_k=4,
            offset=0 of 19640 in data/ft3d/train)'``.
        """
        how = [self.selection] if self.selection else []
        if self._indices is not None:
            how.append(f'indices={self._indices!r}')
        split = getattr(self, 'split', None)
        name = type(self).__name__ + (f' ({split})' if split else '')
        detail = f' ({"; ".join(how)})' if how else ''
        return f'{name}: {len(self)} samples{detail}'

    @property
    def dataset_name(self) -> str:
        """str: The name stored in every sample's ``dataset`` field."""
        return self.metainfo['dataset_name']

    def get_data_info(self, idx: int) -> dict:
        """The idx-th sample's info dict with its common fields.

        Args:
            idx (int): Sample index.

        Returns:
            dict: Info with ``sample_idx``, ``sample_name``, ``dataset``,
            ``camera``, ``test_mode`` and, where the metainfo has it,
            ``frame_interval``.
        """
        info = super().get_data_info(idx)
        info['dataset'] = self.dataset_name
        info.setdefault('camera', self.DEFAULT_CAMERA)
        info['test_mode'] = self.test_mode
        if self.metainfo.get('frame_interval') is not None:
            info['frame_interval'] = float(self.metainfo['frame_interval'])
        return info

    def labeled_mask(self) -> np.ndarray:
        """Which samples carry ground-truth flow.

        Returns:
            np.ndarray: ``(len(self),)`` bool; all True here (FT3D, KITTI).
        """
        return np.ones(len(self), dtype=bool)
