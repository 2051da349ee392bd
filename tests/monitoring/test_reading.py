"""How `monitor` reads realised performance: beside the held-out and the case-mix-corrected
expected (model-based concordance) figures, with a verdict and one plain sentence."""

from __future__ import annotations

import math

import pytest

from monitoring.reading import EXPECTED_CITATION, performance_reading, read_auroc


@pytest.mark.parametrize(
    ("realised", "heldout", "expected", "verdict", "words"),
    [
        (0.706, 0.779, 0.703, "case_mix", "the gap is case mix"),
        (0.785, 0.779, 0.773, "matches_heldout", "matches held-out"),
        (0.600, 0.779, 0.703, "below_expected", "no longer follow"),
        (0.800, 0.779, 0.703, "above_expected", "better than its probabilities"),
        (math.nan, 0.779, 0.703, "unknown", "not enough labels"),
        (0.700, math.nan, 0.703, "unknown", "no held-out"),
    ],
)
def test_read_auroc(realised, heldout, expected, verdict, words):
    got, sentence = read_auroc(realised, heldout, expected)
    assert got == verdict and words in sentence


def test_case_mix_sentence_names_the_figures_and_the_direction():
    _, narrower = read_auroc(0.706, 0.779, 0.703)
    assert "0.706" in narrower and "0.779" in narrower and "0.703" in narrower
    assert "narrower" in narrower and "model-based concordance" in narrower
    _, wider = read_auroc(0.85, 0.779, 0.84)
    assert "wider" in wider


def test_performance_reading_one_row_per_model_version_over_the_window():
    perf = [
        {"kind": "tolerance", "version": "1", "week": "all", "subgroup": "all", "n": 900,
         "auroc": 0.70, "expected_auroc": 0.71, "ece": 0.01, "expected_ece": 0.007},
        {"kind": "tolerance", "version": "1", "week": "2026-W10", "subgroup": "all", "n": 90,
         "auroc": 0.5, "expected_auroc": 0.7, "ece": 0.2, "expected_ece": 0.02},
        {"kind": "tolerance", "version": "1", "week": "all", "subgroup": "age_70_plus", "n": 90,
         "auroc": 0.5, "expected_auroc": 0.7, "ece": 0.2, "expected_ece": 0.02},
    ]  # fmt: skip
    heldout = {"tolerance:1": {"auroc": 0.78, "ece": 0.004}}
    check = [{"kind": "tolerance", "version": "1", "expected_auroc": 0.775, "heldout_auroc": 0.78}]
    (row,) = performance_reading(perf, heldout, check)
    assert (row["realised_auroc"], row["heldout_auroc"], row["expected_auroc"]) == (0.7, 0.78, 0.71)
    assert (row["realised_ece"], row["heldout_ece"], row["expected_ece"]) == (0.01, 0.004, 0.007)
    assert row["estimator_check_auroc"] == 0.775 and row["verdict"] == "case_mix"
    assert row["expected_citation"] == EXPECTED_CITATION and "Stat Med 2016" in EXPECTED_CITATION
    assert row["reading"].startswith("the gap is case mix")


def test_reading_flags_calibration_when_ranking_matches_but_probabilities_are_off():
    """A tolerance shift keeps the ranking (AUROC = expected) but moves the probabilities: the
    reading must not call the model fine."""
    row = {"kind": "tolerance", "version": "1", "week": "all", "subgroup": "all", "n": 900,
           "auroc": 0.705, "expected_auroc": 0.705, "ece": 0.08, "expected_ece": 0.006,
           "mean_prediction": 0.85, "positive_rate": 0.77}  # fmt: skip
    heldout = {"tolerance:1": {"auroc": 0.78, "ece": 0.004}}
    (off,) = performance_reading([row], heldout, [], ece_limit=0.07)
    assert off["calibration_off"] and "Calibration is off" in off["reading"]
    assert "0.850" in off["reading"] and "0.770" in off["reading"]
    (fine,) = performance_reading([row | {"ece": 0.05}], heldout, [], ece_limit=0.07)
    assert not fine["calibration_off"] and "Calibration" not in fine["reading"]
