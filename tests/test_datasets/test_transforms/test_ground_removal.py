"""Tests of bpfn/datasets/transforms/ground_removal.py."""
import numpy as np

from bpfn.datasets.transforms import GroundRemoval


def test_rows_below_threshold_in_both_clouds_are_removed():
    pc1 = np.array([[0, -1.6, 5], [0, -1.6, 6], [0, -1.0, 7], [0, -1.39, 8]],
                   np.float32)
    pc2 = np.array([[0, -1.5, 5], [0, -1.3, 6], [0, -1.5, 7], [0, -1.41, 8]],
                   np.float32)
    out = GroundRemoval(threshold=-1.4)(
        dict(pc1=pc1, pc2=pc2, flow=pc2 - pc1, corresponding=True))
    np.testing.assert_array_equal(out['pc1'], pc1[1:])
    np.testing.assert_array_equal(out['pc2'], pc2[1:])
    np.testing.assert_allclose(out['flow'], (pc2 - pc1)[1:])


def test_independent_clouds():
    pc1 = np.array([[0, -1.6, 5], [0, -1.6, 6]], np.float32)
    flow = np.array([[0, 0, 0], [0, 0.5, 0]], np.float32)
    pc2 = np.array([[0, -1.6, 5], [0, 0.0, 6], [0, -1.5, 7]], np.float32)
    out = GroundRemoval()(
        dict(pc1=pc1, pc2=pc2, flow=flow, corresponding=False))
    np.testing.assert_array_equal(out['pc1'], pc1[1:])
    np.testing.assert_array_equal(out['pc2'], pc2[1:2])


def test_labels_follow_and_unlabelled_pairs_use_pc1():
    pc1 = np.array([[0, -1.6, 5], [0, -1.6, 6], [0, 0.0, 7]], np.float32)
    flow = np.array([[0, 0, 0], [0, 0.5, 0], [0, 0, 1]], np.float32)
    pc2 = np.array([[0, -1.6, 5], [0, 0.0, 6]], np.float32)
    out = GroundRemoval()(
        dict(pc1=pc1, pc2=pc2, flow=flow, pc1_label=np.array([-1, 3, 4]),
             ego_flow=flow * 2, corresponding=False))
    np.testing.assert_array_equal(out['pc1_label'], [3, 4])
    np.testing.assert_array_equal(out['ego_flow'], flow[1:] * 2)
    # No ground truth: row 1 is ground by pc1 alone.
    out = GroundRemoval()(dict(pc1=pc1, pc2=pc2, corresponding=False))
    np.testing.assert_array_equal(out['pc1'], pc1[2:])
    np.testing.assert_array_equal(out['pc2'], pc2[1:])
