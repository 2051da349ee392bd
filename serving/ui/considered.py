"""The doses the policy considered, and why each higher one was not chosen.

Kept in this one module on purpose: it calls the policy's public functions (serving/policy/:
`kernel_facts`, `reference_of`, `tolerated_week`, `clean_record`, `aerobic_options`,
`resistance_options`, `generic_week`, `ModelScorer`, `weekly_intolerant`, `expected_benefit`)
and the kernel's envelope, so when the policy's API moves only this module follows it.

For the chosen week, each modality gets its one-step-higher doses (one more session, a longer
session or one more set, a higher intensity), each scored the way the policy scores a week (the
other modality at its chosen dose), and the first reason that rules it out, in the policy's own
order: the guideline envelope, the progression rules (no rise without a tolerated week or a clean
record), the predicted tolerance bound, the weekly risk bound, then expected benefit.

Two steps, so that /recommend does only the cheap one: `considered_inputs` (at recommend time,
from what the policy already derived, no model call) freezes what the table depends on, stored
with the review page; `considered_table` (when the page is opened) scores the higher steps with
the model versions that made the recommendation and explains them with the settings of then.
`considered_doses` is both at once (tests, and the CDS path's equality check).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import fields, replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from features import FEATURE_SET
from features.contract.convert import requests_to_columns
from features.contract.rest import Prescription, Range, RecommendRequest
from features.pipeline import build_rows
from features.table import Table
from serving import policy
from serving.guidelines import kernel as gk
from serving.policy.options import aerobic_session_cap
from serving.policy.search import (
    contexts_for,
    longer_than_generic,
    options_for,
    session_thresholds,
)

log = logging.getLogger("dosewise.serving.ui")

AEROBIC_STEPS = (("one more session", 0, 1.0), ("5 min longer", 1, 5.0), ("+3% HRmax", 2, 3.0))
RESISTANCE_STEPS = (("one more session", 3, 1.0), ("one more set", 4, 1.0), ("+5% 1RM", 6, 5.0))


def _mid(band: Range) -> float:
    return (float(band.low) + float(band.high)) / 2


def chosen_week(prescription: Prescription, env: gk.Envelope) -> np.ndarray:
    """The prescription as a 7-column week plan (policy.PLAN_COLUMNS), intensities at the
    middle of their bands (what the policy scored)."""
    plan = np.zeros(7)
    a, r = prescription.aerobic, prescription.resistance
    if a is not None:
        plan[0:3] = (a.sessions_per_week, a.minutes_per_session, _mid(a.intensity_pct_hrmax))
    if r is not None:
        reps = min(max(12.0, env.resistance_reps_min), env.resistance_reps_max)
        plan[3:7] = (r.sessions_per_week, r.sets, reps, _mid(r.intensity_pct_1rm))
    return plan


def envelope_reason(plan: np.ndarray, env: Any, cfg: Any) -> str | None:
    """Which guideline bound a week plan breaks (None: inside the envelope). `env` and `cfg`:
    a `gk.Envelope` and a `PolicyConfig`, or what a page stored of them (`considered_inputs`)."""
    s, m, p, rs, rk, _, q = (float(x) for x in plan)
    checks = [
        (s + rs > env.total_sessions_max, f"at most {env.total_sessions_max} sessions a week"),
        (s > env.aerobic_sessions_max, f"at most {env.aerobic_sessions_max} aerobic sessions"),
        (s >= 1 and m > env.aerobic_minutes_max, f"at most {env.aerobic_minutes_max:g} min"),
        (
            s >= 1 and s * m > env.aerobic_weekly_volume_max + 1e-9,
            f"weekly aerobic volume at most {env.aerobic_weekly_volume_max:g} min",
        ),
        (
            s >= 1 and p + cfg.hrmax_band / 2 > env.aerobic_pct_hrmax_max + 1e-9,
            f"aerobic intensity at most {env.aerobic_pct_hrmax_max:g}% HRmax",
        ),
        (rs >= 1 and not env.resistance_allowed, "no resistance exercise now"),
        (
            rs > env.resistance_sessions_max,
            f"at most {env.resistance_sessions_max} resistance sessions",
        ),
        (rs >= 1 and rk > env.resistance_sets_max, f"at most {env.resistance_sets_max} sets"),
        (
            rs >= 1 and q + cfg.one_rm_band / 2 > env.resistance_pct_1rm_max + 1e-9,
            f"resistance load at most {env.resistance_pct_1rm_max:g}% 1RM",
        ),
    ]
    return next((why for broken, why in checks if broken), None)


def _in(options: np.ndarray, dose: np.ndarray) -> bool:
    return bool(len(options)) and bool(np.any(np.all(np.abs(options - dose) < 0.5, axis=1)))


def _dose_text(plan: np.ndarray, modality: str) -> str:
    if modality == "aerobic":
        return f"{plan[0]:.0f} x {plan[1]:.0f} min at {plan[2]:.0f}% HRmax"
    return f"{plan[3]:.0f} x {plan[4]:.0f} sets at {plan[6]:.0f}% 1RM"


def derive_inputs(req: RecommendRequest, as_of: dt.date, ts: np.datetime64) -> policy.PatientInputs:
    """The feature row, kernel facts and kernel result of one request, the way the policy
    derives them (used when the policy's own are not at hand, e.g. the CDS path)."""
    patients, sessions = requests_to_columns([req], ["r0"], as_of)
    table = Table.of(patients)
    snap = {c: table.values(c) for c in table.columns}
    snap["patient_id"] = np.array(["r0"], dtype=object)
    snap["as_of"] = np.array([ts], dtype="datetime64[ns]")
    keys = {"patient_id": snap["patient_id"], "as_of": snap["as_of"]}
    row = build_rows(snap, sessions, keys).rows()[0]
    history = {k: row[policy.FEATURE_COLUMNS.index(k)] for k in policy.HISTORY_FACTS}
    facts = policy.kernel_facts(policy.records(snap)[0], history)
    return policy.PatientInputs(row, facts, gk.evaluate(facts))


def _alternatives(chosen: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """The one-step-higher weeks of the chosen week, per present modality, in table order."""
    out: list[tuple[str, str, np.ndarray]] = []
    for modality, steps, present in (
        ("aerobic", AEROBIC_STEPS, chosen[0] >= 1),
        ("resistance", RESISTANCE_STEPS, chosen[3] >= 1),
    ):
        if not present:
            continue
        for label, col, delta in steps:
            alt = chosen.copy()
            alt[col] += delta
            out.append((modality, label, alt))
    return out


# Key of the stored page data that holds `considered_inputs` (the table is made on opening).
INPUTS_KEY = "considered_inputs"

# The envelope's bounds the table's reasons read (stored with the page).
ENVELOPE_FIELDS = (
    "total_sessions_max",
    "aerobic_sessions_max",
    "aerobic_minutes_max",
    "aerobic_weekly_volume_max",
    "aerobic_pct_hrmax_max",
    "resistance_allowed",
    "resistance_sessions_max",
    "resistance_sets_max",
    "resistance_pct_1rm_max",
)


def _settings_of(cfg: policy.PolicyConfig) -> dict[str, Any]:
    """The policy's scalar settings (numbers and switches) as they were: the thresholds the
    reasons name and the objective's weights the scores are priced with."""
    return {
        f.name: getattr(cfg, f.name)
        for f in fields(cfg)
        if type(getattr(cfg, f.name)) in (int, float, bool)
    }


def _policy_then(stored: dict[str, Any]) -> policy.PolicyConfig:
    """The policy settings a page stored, on today's defaults for any it did not store."""
    known = {f.name for f in fields(policy.PolicyConfig)}
    return replace(policy.PolicyConfig(), **{k: v for k, v in stored.items() if k in known})


def considered_inputs(
    req: RecommendRequest,
    rec: policy.Recommendation,
    cfg: policy.PolicyConfig,
    known: policy.PatientInputs | None = None,
) -> dict[str, Any] | None:
    """What the "doses considered" table needs, frozen when the recommendation is made, numbers
    and flags only (JSON-safe): the chosen week, whether each one-step-higher week was among the
    search's options, the generic week, the record's flags, the envelope's bounds, the policy's
    settings, the feature row the policy scored and the model versions that scored it.
    `considered_table` scores and explains it when the page is opened, with those model
    versions and those settings, so a later promotion or policy change never alters what the
    page says was decided; /recommend only stores it. None with no dose (hold, refer). `known`:
    what the policy derived for this request (feature row, facts, kernel result, the options
    it had); built here again when not given."""
    rx = rec.prescription
    if rx is None or (rx.aerobic is None and rx.resistance is None):
        return None
    as_of = req.as_of or dt.date.today()
    if known is None:
        known = derive_inputs(req, as_of, pd.Timestamp(as_of).normalize().to_datetime64())
    result = known.kernel
    env = result.envelope
    # the search's own context (reference, rise, clean record, 14-day tolerated share), so the
    # options shown are the options the search had
    ctx = contexts_for(known.row[None, :], [result], [known.facts], cfg)[0]
    if ctx is None:
        return None
    options = known.options if known.options is not None else options_for(ctx, cfg)
    chosen = chosen_week(rx, env)
    option = [
        _in(options[0], alt[0:3]) if modality == "aerobic" else _in(options[1], alt[[3, 4, 6]])
        for modality, _, alt in _alternatives(chosen)
    ]
    row = known.row.tolist()
    return {
        "chosen": chosen.tolist(),
        "generic": policy.generic_week(env, cfg).tolist(),
        "option": option,
        "grid": [len(options[0]), len(options[1])],
        "rise": list(ctx.rise),
        "clean": list(ctx.clean),
        "resistance_first": ctx.resistance_first,
        "aerobic_cap": aerobic_session_cap(env, ctx.ref, cfg),
        "envelope": {f: getattr(env, f) for f in ENVELOPE_FIELDS},
        "policy": _settings_of(cfg),
        "features": FEATURE_SET.version,
        "row": [v if math.isfinite(v) else None for v in row],
        "models": [rec.tolerance_model.version, rec.adherence_model.version],
    }


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def considered_table(inputs: dict[str, Any], models: Any) -> dict[str, Any]:
    """The chosen week and its one-step-higher alternatives with the first reason that rules
    each out, in the policy's own order (envelope, progression rules, predicted tolerance,
    weekly risk, attendance for one more session, benefit), from `considered_inputs` and the
    models of the versions it names (`models`), each week scored the way the policy scores a
    week (the other modality at its chosen dose)."""
    if inputs["features"] != FEATURE_SET.version:
        raise ValueError("the page's feature row is of another feature set")
    found = [str(models.tolerance.version), str(models.adherence.version)]
    if found != [str(v) for v in inputs["models"]]:
        raise ValueError("models of other versions than the recommendation's")
    env = SimpleNamespace(**inputs["envelope"])
    cfg = _policy_then(inputs["policy"])
    rise, clean, aerobic_cap = inputs["rise"], inputs["clean"], inputs["aerobic_cap"]
    chosen = np.asarray(inputs["chosen"], dtype=float)
    alternatives = _alternatives(chosen)
    plans = np.vstack([chosen, inputs["generic"], *[a for _, _, a in alternatives]])
    row = np.array([_nan(v) for v in inputs["row"]], dtype=float)[None, :]
    points = policy.Points(row, np.array(["r0"], dtype=object), pd.Timestamp(0))
    scores = policy.ModelScorer(models).score(points, np.zeros(len(plans), dtype=int), plans)
    risk = policy.weekly_intolerant(plans, scores)
    first = bool(inputs.get("resistance_first", False))  # pages stored before it: none
    benefit = policy.expected_benefit(plans, scores, cfg, first)
    bound = min(cfg.max_weekly_intolerant, cfg.generic_risk_ratio * float(risk[1]))
    # the search's own per-session bounds: the setting, never stricter than the generic dose's
    # predicted tolerance, and the higher bar of sessions longer than the generic ones
    thresholds = session_thresholds(scores.tolerance[1], cfg)
    longer = longer_than_generic(plans, cfg)
    rows = [
        {
            "modality": m,
            "dose": _dose_text(chosen, m),
            "step": "chosen",
            "outcome": "chosen",
            "reason": "the most expected benefit inside the envelope and the risk bounds",
        }
        for m, present in (("aerobic", chosen[0] >= 1), ("resistance", chosen[3] >= 1))
        if present
    ]
    for j, ((modality, label, alt), option) in enumerate(
        zip(alternatives, inputs["option"], strict=True), start=2
    ):
        m = 0 if modality == "aerobic" else 1
        tol = scores.tolerance[j, m]
        att = scores.attendance[j, m]
        outcome, reason = "not chosen", ""
        if (why := envelope_reason(alt, env, cfg)) is not None:
            outcome, reason = "envelope", f"outside the guideline envelope: {why}"
        elif not option:
            outcome = "progression"
            if not rise[m]:
                reason = "no rise this week: the last sessions were not all tolerated"
            elif not clean[m]:
                reason = "no rise above the generic dose without a clean recent record"
            elif label == "5 min longer" and cfg.frequency_first and alt[0] < aerobic_cap:
                reason = (
                    "sessions are added before they get longer: longer sessions only at "
                    f"{aerobic_cap:g} aerobic sessions a week"
                )
            elif label == "one more session" and m == 0 and alt[0] > cfg.max_aerobic_sessions:
                reason = (
                    f"at most {cfg.max_aerobic_sessions:g} aerobic sessions a week, so that 2 "
                    "resistance sessions keep their place beside them (the guideline target)"
                )
            elif (
                label == "one more session"
                and m == 1
                and not first
                and alt[3] > cfg.resistance_sessions_before_aerobic_target
            ):
                reason = (
                    "a third resistance session waits until aerobic meets the guideline target "
                    "(>= 150 min a week of moderate, with a session to spare)"
                )
            else:
                reason = "more than one progression step in a week"
        elif math.isfinite(tol) and tol < (
            threshold := max(thresholds[m], cfg.longer_session_tolerance)
            if m == 0 and longer[j]
            else thresholds[m]
        ):
            outcome = "prediction"
            reason = f"predicted tolerance {tol:.2f} below the bound {threshold:.2f}"
        elif risk[j] > bound + 1e-12:
            outcome = "prediction"
            reason = (
                f"expected intolerant sessions {risk[j]:.2f}/week above the bound {bound:.2f} "
                "(the generic dose's risk)"
            )
        elif label == "one more session" and math.isfinite(att) and att < cfg.adherence_threshold:
            outcome = "prediction"
            reason = (
                f"predicted attendance {att:.2f} below {cfg.adherence_threshold:.2f} "
                "needed for one more session"
            )
        else:
            outcome = "benefit"
            reason = (
                f"expected benefit {benefit[j]:.2f} vs {benefit[0]:.2f} for the chosen week "
                "(the search ranks whole weeks)"
            )
        rows.append(
            {
                "modality": modality,
                "dose": _dose_text(alt, modality),
                "step": label,
                "outcome": outcome,
                "reason": reason,
                "tolerance": None if not math.isfinite(tol) else round(float(tol), 3),
            }
        )
    return {
        "rows": rows,
        "grid": {"aerobic": inputs["grid"][0], "resistance": inputs["grid"][1]},
        "risk_bound": round(bound, 3),
    }


def considered_doses(
    req: RecommendRequest,
    rec: policy.Recommendation,
    models: Any,
    cfg: policy.PolicyConfig,
    known: policy.PatientInputs | None = None,
) -> dict[str, Any] | None:
    """The chosen week and its one-step-higher alternatives with the reason each was not
    chosen (`considered_table` of `considered_inputs`); None with no dose (hold, refer)."""
    inputs = considered_inputs(req, rec, cfg, known)
    return None if inputs is None else considered_table(inputs, models)


def with_considered_table(
    data: dict[str, Any], models_at: Callable[[tuple[str, str]], Any]
) -> dict[str, Any]:
    """A stored page's data with its "doses considered" table made from the inputs stored with
    it, scored by `models_at(versions)` (the models that made the recommendation). Pages stored
    before the inputs were hold the table itself and are returned as they are. A table that
    cannot be made (those models gone from the registry, say) is logged and shown as
    unavailable; the page still opens."""
    inputs = data.get(INPUTS_KEY)
    if inputs is None:
        return data
    out = {k: v for k, v in data.items() if k != INPUTS_KEY}
    try:
        versions = (str(inputs["models"][0]), str(inputs["models"][1]))
        out["considered"] = considered_table(inputs, models_at(versions))
    except Exception as exc:  # a missing model or a malformed row never takes the page down
        log.error("doses considered unavailable (%s)", type(exc).__name__)
        out["considered"] = None
    return out
