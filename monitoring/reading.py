"""How to read realised performance: beside it, the held-out figure the model was promoted on and
the case-mix-corrected figure the served predictions themselves imply, with one plain sentence.

Why three figures: a c-statistic depends on who is being ranked as much as on the model. Under
Dosewise (an active deployment) the policy serves doses it predicts are tolerated, so the spread
of risk the model ranks is narrower than in the randomised training cohort, and a calibrated
model discriminates less (case mix, not decay: Vergouwe et al., Am J Epidemiol 2010; van
Klaveren et al., Stat Med 2016). The *model-based concordance* (mbc) of van Klaveren et al. is
the c-statistic expected in the served population if the model is correct: each label drawn as
Bernoulli(p) from its own prediction (`monitoring.expected.expected_auroc`). So:

* realised ~ held-out: the served population is ranked as in training (a shadow deployment, or
  an active one whose case mix is the training one);
* realised ~ expected, both away from held-out: the gap is case mix, the model is fine;
* realised well below expected: the labels no longer follow the predictions (decay): retrain.

The same estimator applied to the held-out predictions must give the held-out AUROC (the
estimator check): that is what makes the expected figure a fair yardstick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

AGREE = 0.03  # figures within this are "the same" (the acceptance margin)
EXPECTED_NAME = "model-based concordance (mbc)"
EXPECTED_MEANING = (
    "the AUROC expected in these patients if the predictions are correct (each label drawn from "
    "its own prediction): the case-mix-corrected c-statistic"
)
EXPECTED_CITATION = (
    "van Klaveren D, Gonen M, Steyerberg EW, Vergouwe Y. A new concordance measure for risk "
    "prediction models in external validation settings. Stat Med 2016;35(23):4136-52"
)
CASE_MIX_CITATION = (
    "Vergouwe Y, Moons KGM, Steyerberg EW. External validity of risk models: use of benchmark "
    "values to disentangle a case-mix effect from incorrect coefficients. Am J Epidemiol "
    "2010;172(8):971-80"
)


def _finite(*values: float) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def read_auroc(realised: float, heldout: float, expected: float) -> tuple[str, str]:
    """(verdict, one plain sentence) for a realised AUROC beside its held-out and expected ones.

    Verdicts: `matches_heldout`, `case_mix`, `below_expected`, `above_expected`, `unknown`."""
    if not _finite(realised, expected):
        return "unknown", "not enough labels (or predictions) to read the AUROC."
    r, e = realised, expected
    h = heldout if _finite(heldout) else math.nan
    if r < e - AGREE:
        return "below_expected", (
            f"realised AUROC {r:.3f} is below the {e:.3f} the served predictions imply if "
            "correct (model-based concordance): the outcomes no longer follow the predictions "
            "(model decay or a changed population); see the alarms."
        )
    if r > e + AGREE:
        return "above_expected", (
            f"realised AUROC {r:.3f} is above the {e:.3f} the served predictions imply: the "
            "model ranks better than its probabilities say (predictions too cautious)."
        )
    if not math.isfinite(h):
        return "unknown", (
            f"realised AUROC {r:.3f} matches the {e:.3f} the served predictions imply; no "
            "held-out figure to compare with."
        )
    if abs(r - h) <= AGREE:
        return "matches_heldout", (
            f"realised AUROC {r:.3f} matches held-out {h:.3f} (and the {e:.3f} expected): "
            "these patients are ranked as well as the training cohort."
        )
    why = (
        "narrower spread of risk allows (an active policy serves doses it predicts are "
        "tolerated, which narrows it)"
        if e < h
        else "wider spread of risk allows"
    )
    return "case_mix", (
        f"the gap is case mix: realised AUROC {r:.3f} differs from held-out {h:.3f} by "
        f"{r - h:+.3f} but matches the {e:.3f} the served predictions imply if correct "
        f"(model-based concordance), so the model ranks these patients as well as their {why}."
    )


def read_calibration(row: Mapping[str, Any], ece_limit: float) -> str | None:
    """A sentence when the window's ECE is over its sampling floor by more than the monitor's
    calibration limit (ranking can match expected while the probabilities are off)."""
    ece, floor = row.get("ece", math.nan), row.get("expected_ece", math.nan)
    if not _finite(ece, floor) or ece <= floor + ece_limit:
        return None
    return (
        f"Calibration is off, though: ECE {ece:.3f} > its sampling floor {floor:.3f} + "
        f"{ece_limit} (mean predicted {row.get('mean_prediction', math.nan):.3f}, observed "
        f"{row.get('positive_rate', math.nan):.3f}); see the alarms."
    )


def performance_reading(
    performance: list[dict[str, Any]],
    heldout: Mapping[str, Mapping[str, float]],
    estimator_check: list[dict[str, Any]],
    ece_limit: float = math.inf,
) -> list[dict[str, Any]]:
    """Per model and version over the window: realised, held-out and expected (mbc) AUROC and
    ECE side by side, the estimator check on the held-out rows, and the verdict in words
    (`calibration_off` when the window's ECE exceeds its floor by more than `ece_limit`)."""
    checks = {(c["kind"], c["version"]): c for c in estimator_check}
    out = []
    for r in performance:
        if r["week"] != "all" or r["subgroup"] != "all":
            continue
        kind, version = r["kind"], r["version"]
        held = heldout.get(f"{kind}:{version}", {})
        check = checks.get((kind, version), {})
        nan = math.nan
        verdict, sentence = read_auroc(
            r["auroc"], held.get("auroc", nan), r.get("expected_auroc", nan)
        )
        calibration = read_calibration(r, ece_limit)
        out.append(
            {
                "kind": kind,
                "version": version,
                "n": r["n"],
                "realised_auroc": r["auroc"],
                "heldout_auroc": held.get("auroc", nan),
                "expected_auroc": r.get("expected_auroc", nan),
                "realised_ece": r["ece"],
                "heldout_ece": held.get("ece", nan),
                "expected_ece": r.get("expected_ece", nan),
                "estimator_check_auroc": check.get("expected_auroc", nan),
                "estimator_check_heldout_auroc": check.get("heldout_auroc", nan),
                "verdict": verdict,
                "calibration_off": calibration is not None,
                "reading": sentence if calibration is None else f"{sentence} {calibration}",
                "expected_name": EXPECTED_NAME,
                "expected_meaning": EXPECTED_MEANING,
                "expected_citation": EXPECTED_CITATION,
            }
        )
    return out
