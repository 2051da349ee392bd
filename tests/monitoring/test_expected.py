"""Confidence-based expected performance and per-modality scoring against hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from monitoring import expected
from monitoring.outcomes import session_predictions
from training.evaluate import expected_calibration_error, safe_auroc


def test_expected_auroc_of_two_predictions_is_the_ratio_of_pair_expectations():
    # pairs (i positive, j negative): p_i (1 - p_j); concordant only when p_i > p_j
    assert expected.expected_auroc(np.array([0.2, 0.8])) == pytest.approx(0.64 / 0.68)


def test_expected_auroc_counts_ties_half_and_is_half_for_identical_predictions():
    assert expected.expected_auroc(np.full(5, 0.3)) == pytest.approx(0.5)


def test_expected_auroc_matches_enumeration_over_every_label_vector():
    # ratio of expectations: E[concordant] / E[positive-negative pairs], by brute force
    p = np.array([0.1, 0.4, 0.4, 0.7, 0.9])
    conc = pairs = 0.0
    for y in itertools.product((0, 1), repeat=len(p)):
        y = np.array(y)
        prob = np.prod(np.where(y == 1, p, 1 - p))
        for i, j in itertools.permutations(range(len(p)), 2):
            if y[i] == 1 and y[j] == 0:
                pairs += prob
                conc += prob * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    assert expected.expected_auroc(p) == pytest.approx(conc / pairs)


def test_integer_weights_equal_repeated_rows():
    p = np.array([0.2, 0.6, 0.9])
    w = np.array([3.0, 1.0, 2.0])
    rep = expected.expected_auroc(np.repeat(p, w.astype(int)))
    assert expected.expected_auroc(p, w) == pytest.approx(rep)


def test_expected_ece_of_one_bin_is_the_exact_poisson_binomial_mean_deviation():
    # y1 + y2 in {0, 1, 2} with P = 0.16, 0.68, 0.16; |k/2 - 0.5| = 0.5, 0, 0.5
    assert expected.expected_ece(np.array([0.2, 0.8]), bins=1) == pytest.approx(0.16)
    assert expected.expected_ece(np.array([0.5])) == pytest.approx(0.5)


def test_expected_brier_is_mean_variance():
    assert expected.expected_brier(np.array([0.5, 0.1])) == pytest.approx((0.25 + 0.09) / 2)
    assert expected.expected_brier(np.array([0.5, 0.1]), np.array([1.0, 3.0])) == pytest.approx(
        (0.25 + 3 * 0.09) / 4
    )


def test_calibrated_labels_realise_the_expected_figures_on_average():
    rng = np.random.default_rng(1)
    p = rng.beta(2, 2, 2000)
    aurocs, eces = [], []
    for _ in range(60):
        y = (rng.random(len(p)) < p).astype(int)
        aurocs.append(safe_auroc(y, p))
        eces.append(expected_calibration_error(y, p))
    assert np.mean(aurocs) == pytest.approx(expected.expected_auroc(p), abs=0.005)
    assert np.mean(eces) == pytest.approx(expected.expected_ece(p), rel=0.1)


def test_each_session_is_scored_against_its_own_modality_with_a_fallback_for_old_rows():
    recs = pd.DataFrame(
        {
            "pred_tolerance": [0.6, 0.7],
            "pred_adherence": [0.8, 0.9],
            "pred_tolerance_aerobic": [0.9, np.nan],  # row 1: written before migration 0005
            "pred_tolerance_resistance": [0.6, np.nan],
            "pred_adherence_aerobic": [0.85, np.nan],
            "pred_adherence_resistance": [0.75, np.nan],
        }
    )
    labels = pd.DataFrame({"rec": [0, 0, 1], "modality": ["aerobic", "resistance", "aerobic"]})
    out = session_predictions(recs, labels)
    assert out["p_tolerance"].tolist() == [0.9, 0.6, 0.7]
    assert out["p_adherence"].tolist() == [0.85, 0.75, 0.9]
    assert out["per_modality"].tolist() == [True, True, False]
