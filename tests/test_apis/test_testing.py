"""Tests of bpfn.apis.testing: results from the metric's keys."""
import math

from bpfn.apis.testing import per_dataset


def test_per_dataset_splits_keys_in_evaluation_order():
    metrics = {
        'EPE3D': 0.25,  # the first dataset's, for save_best
        'FT3D/EPE3D': 0.25, 'FT3D/ACC3DS': 0.5, 'FT3D/zero_flow_EPE3D': 0.9,
        'KITTI/ACC3DS': 0.4, 'KITTI/EPE3D': 0.3, 'KITTI/EPE_FD': math.nan,
        'KITTI/zero_flow_EPE3D': 0.7, 'FT3D/num_samples': 3,
    }
    scores, zero = per_dataset(metrics)
    assert list(scores) == ['FT3D', 'KITTI']
    # Keys in the table's order, only the metrics (no counts, no baseline).
    assert scores['FT3D'] == {'EPE3D': 0.25, 'ACC3DS': 0.5}
    assert list(scores['KITTI']) == ['EPE3D', 'ACC3DS', 'EPE_FD']
    assert math.isnan(scores['KITTI']['EPE_FD'])
    assert zero == {'FT3D': 0.9, 'KITTI': 0.7}
    assert all(isinstance(v, float) for v in scores['FT3D'].values())
