"""Tests of bpfn/datasets/transforms/depth_filter.py."""
import numpy as np
import pytest

from bpfn.datasets.transforms import DepthFilter


def sample(corresponding):
    pc1 = np.array([[0, 0, 5], [0, 0, 34], [0, 0, 36], [0, 0, 10]], np.float32)
    flow = np.array([[0, 0, 1], [0, 0, 2], [0, 0, -2], [0, 0, 0]], np.float32)
    pc2 = pc1 + flow if corresponding else np.array([[0, 0, 40], [0, 0, 3]],
                                                    np.float32)
    return dict(pc1=pc1, pc2=pc2, flow=flow, corresponding=corresponding)


def test_corresponding_rows_need_both_near():
    out = DepthFilter(max_depth=35.0)(sample(True))
    # Row 1 moves to 36 m, row 2 starts at 36 m.
    np.testing.assert_array_equal(out['pc1'][:, 2], [5, 10])
    np.testing.assert_array_equal(out['pc2'][:, 2], [6, 10])
    np.testing.assert_array_equal(out['flow'][:, 2], [1, 0])


def test_independent_clouds_filtered_separately():
    out = DepthFilter(max_depth=35.0)(sample(False))
    np.testing.assert_array_equal(out['pc1'][:, 2], [5, 10])
    np.testing.assert_array_equal(out['pc2'][:, 2], [3])


def test_disabled_and_empty():
    out = DepthFilter(max_depth=0)(sample(True))
    assert len(out['pc1']) == 4
    with pytest.raises(
            ValueError,
            match=r'no point of pc1 is left after '
            r'the depth filter \(< 1.0 m\)'):
        DepthFilter(max_depth=1.0)(dict(sample(True), sample_name='s0'))


def test_labels_follow_the_rows_and_unlabelled_pairs_use_pc1():
    src = sample(False)
    labelled = dict(
        src,
        pc1_label=np.array([-1, 0, 1, -1], np.int32),
        ego_flow=src['flow'] * 0.5)
    out = DepthFilter(max_depth=35.0)(labelled)
    np.testing.assert_array_equal(out['pc1_label'], [-1, -1])
    np.testing.assert_array_equal(out['ego_flow'][:, 2], [0.5, 0])
    # Without ground truth pc1 is filtered by its own depth: row 1 (34 m,
    # moving beyond 35 m) stays.
    unlabelled = sample(False)
    del unlabelled['flow']
    out = DepthFilter(max_depth=35.0)(unlabelled)
    np.testing.assert_array_equal(out['pc1'][:, 2], [5, 34, 10])
    assert 'flow' not in out


def test_min_depth_drops_points_behind():
    pc1 = np.array([[0, 0, -5], [0, 0, 0], [0, 0, 3]], np.float32)
    pc2 = np.array([[0, 0, -1], [0, 0, 4]], np.float32)
    out = DepthFilter(max_depth=35.0, min_depth=0.0)(
        dict(pc1=pc1, pc2=pc2, corresponding=False))
    np.testing.assert_array_equal(out['pc1'][:, 2], [3])
    np.testing.assert_array_equal(out['pc2'][:, 2], [4])
    with pytest.raises(ValueError, match='min_depth=40.0 must be below'):
        DepthFilter(max_depth=35.0, min_depth=40.0)
