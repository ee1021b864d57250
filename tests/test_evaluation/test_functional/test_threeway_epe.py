"""Tests of bpfn/evaluation/functional/threeway_epe.py."""
import numpy as np
import pytest
import torch

from bpfn.evaluation.functional import (threeway_classes, threeway_epe,
                                        threeway_epe_from_sums,
                                        threeway_epe_sums)

EGO = np.array([0.0, 0.0, 1.0], np.float32)  # 1 m forward per frame


def hand_sample():
    """Six points whose classes and errors are worked out by hand.

    With a 0.1 s frame interval a point is dynamic from 0.5 m/s * 0.1 s =
    0.05 m of compensated motion per frame.
    """
    label = np.array([0, 0, 1, -1, -1, -1])
    residual = np.array([
        [0.3, 0.0, 0.0],  # object 0, 0.3 m: foreground dynamic
        [0.0, 0.04, 0.0],  # object 0, 0.04 m: foreground static
        [0.0, 0.0, 0.0],  # object 1, parked: foreground static
        [0.0, 0.0, 0.0],  # background static
        [0.0, 0.0, 0.0],  # background static
        [0.1, 0.0, 0.0],  # background moving: in no class
    ], np.float32)
    ego = np.tile(EGO, (6, 1))
    gt = ego + residual
    # Errors 0.2, 0.1, 0.5, 0.05, 0.15, 1.0 along y.
    err = np.array([0.2, 0.1, 0.5, 0.05, 0.15, 1.0], np.float32)
    pred = gt + np.stack([np.zeros(6), err, np.zeros(6)], 1).astype(
        np.float32)
    return pred, gt, label, ego


def test_hand_computed_values():
    pred, gt, label, ego = hand_sample()
    np.testing.assert_array_equal(
        threeway_classes(gt, label, ego, 0.1), [0, 1, 1, 2, 2, -1])
    out = threeway_epe(pred, gt, label, ego, frame_interval=0.1)
    # FD = 0.2; FS = (0.1 + 0.5) / 2 = 0.3; BS = (0.05 + 0.15) / 2 = 0.1;
    # the background point moving at 1 m/s (error 1.0) counts nowhere.
    assert out['EPE_FD'] == pytest.approx(0.2, abs=1e-6)
    assert out['EPE_FS'] == pytest.approx(0.3, abs=1e-6)
    assert out['EPE_BS'] == pytest.approx(0.1, abs=1e-6)
    assert out['ThreewayEPE'] == pytest.approx((0.2 + 0.3 + 0.1) / 3,
                                               abs=1e-6)
    sums = threeway_epe_sums(pred, gt, label, ego, 0.1)
    assert {k: n for k, (_, n) in sums.items()} == dict(FD=1, FS=2, BS=2)


def test_frame_interval_sets_the_dynamic_threshold():
    pred, gt, label, ego = hand_sample()
    # At 20 Hz the threshold is 0.025 m per frame: 0.04 m is dynamic.
    out = threeway_epe(pred, gt, label, ego, frame_interval=0.05)
    assert out['EPE_FD'] == pytest.approx((0.2 + 0.1) / 2, abs=1e-6)
    assert out['EPE_FS'] == pytest.approx(0.5, abs=1e-6)
    # A 0.5 m/s threshold at 1 s: exactly 0.5 m is dynamic (>=).
    at = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert threeway_classes(at, [0], EGO[None], 1.0).tolist() == [0]
    assert threeway_classes(at, [0], EGO[None], 1.0,
                            dynamic_speed=0.51).tolist() == [1]


def test_tensors_and_a_missing_class():
    pred, gt, label, ego = hand_sample()
    keep = label == -1  # background only: no foreground point
    out = threeway_epe(
        torch.from_numpy(pred[keep]), torch.from_numpy(gt[keep]),
        torch.from_numpy(label[keep]), torch.from_numpy(ego[keep]), 0.1)
    assert out == pytest.approx(dict(EPE_BS=0.1), abs=1e-6)
    assert threeway_epe_from_sums(
        dict(FD=(0.0, 0), FS=(0.0, 0), BS=(0.0, 0))) == {}


def test_bad_inputs_are_named():
    pred, gt, label, ego = hand_sample()
    with pytest.raises(ValueError, match='frame_interval must be a positive'):
        threeway_classes(gt, label, ego, 0.0)
    with pytest.raises(ValueError, match=r'pc1_label \(N,\)'):
        threeway_classes(gt, label[:3], ego, 0.1)
