"""Scene flow datasets, transforms, samplers and the batch collate function."""
from .base_flow_dataset import BaseSceneFlowDataset
from .flyingthings3d import (FlyingThings3D, MinimizedFlyingThings3D,
                             select_minimized_subset)
from .kitti import KITTI
from .readers import (MAX_POINTS, PointCloudFormatError, load_cloud,
                      load_points, validate_cloud)
from .samplers import LabeledShareBatchSampler, labeled_mask
from .synthetic import SyntheticSceneFlow, generate_synthetic_scene
from .transforms import (DepthFilter, FlowAugmentation, GroundRemoval,
                         LoadScanPair, LoadSceneFlowNpy, PackFlowInputs,
                         RandomSampleFlowPoints)
from .unlabeled_scans import UnlabeledScans, probe_scan
from .utils import (flow_collate, get_sample_rng, load_kitti_calibration,
                    normalize_scene_names, read_scene_list)

__all__ = [
    'BaseSceneFlowDataset', 'FlyingThings3D', 'MinimizedFlyingThings3D',
    'KITTI', 'SyntheticSceneFlow', 'generate_synthetic_scene',
    'UnlabeledScans', 'probe_scan', 'LabeledShareBatchSampler',
    'labeled_mask', 'select_minimized_subset', 'LoadSceneFlowNpy',
    'LoadScanPair', 'DepthFilter', 'GroundRemoval', 'RandomSampleFlowPoints',
    'FlowAugmentation', 'PackFlowInputs', 'flow_collate', 'validate_cloud',
    'load_cloud', 'get_sample_rng', 'load_kitti_calibration',
    'read_scene_list', 'normalize_scene_names', 'load_points',
    'PointCloudFormatError', 'MAX_POINTS'
]
