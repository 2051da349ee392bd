"""No code path emits a prescription outside the guideline rules, whatever the models say.

Arbitrary valid REST requests (patients over the whole contract ranges, histories, current
prescriptions) meet arbitrary model outputs (0, 1, NaN, inf, negative, > 1, random, adversarial
per row). The output is checked three ways: against the kernel's envelope for that request,
against the global bounds of DESIGN.md section 5 written out here independently of the kernel, and
hold/refer conditions written out here yield no dose.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from features import build
from features.contract.convert import requests_to_columns
from features.contract.rest import Prescription, RecommendRequest
from features.contract.vocab import COMORBIDITIES, METASTATIC_SITES
from serving.guidelines import kernel as gk
from serving.policy import HISTORY_FACTS, REFERENCE_COLUMNS, Models, PolicyConfig, recommend
from tests.frames import request_to_frames

AS_OF = dt.date(2026, 11, 20)
EXAMPLES = max(2000, settings().max_examples)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def num(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False)


def usual(normal: tuple[float, float], lo: float, hi: float) -> st.SearchStrategy[float]:
    """Mostly clinically usual values, often anything the contract allows (incl. the edges)."""
    return st.one_of(*[num(*normal)] * 11, num(lo, hi))


@st.composite
def patients(draw: st.DrawFn) -> dict:
    return {
        "patient_id": draw(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)),
        "age": draw(st.integers(18, 110)),
        "sex": draw(st.sampled_from(["female", "male", "unknown"])),
        "height_cm": draw(num(100, 250)),
        "weight_kg": draw(num(25, 300)),
        "cancer_type": draw(st.sampled_from(["breast", "prostate", "lung", "other"])),
        "stage": draw(st.sampled_from(["I", "II", "III", "IV"])),
        "metastatic_sites": draw(st.lists(st.sampled_from(METASTATIC_SITES), unique=True)),
        "treatment_phase": draw(
            st.sampled_from(["none", "chemotherapy", "radiotherapy", "post_treatment"])
        ),
        "days_since_infusion": draw(maybe(st.integers(0, 60))),
        "ecog": draw(st.sampled_from([0, 0, 1, 1, 2, 2, 3, 4])),
        "comorbidities": draw(st.lists(st.sampled_from(COMORBIDITIES), unique=True)),
        "medical_clearance": draw(st.booleans()),
        "resistance_experience": draw(st.sampled_from(["none", "novice", "experienced"])),
        "sarcopenia": draw(maybe(st.booleans())),
        # additive optional fields (guideline 2026.12.0)
        "next_infusion_in_days": draw(maybe(st.integers(0, 30))),
        "recent_surgery_days": draw(maybe(st.integers(0, 200))),
        "cardiotoxic_therapy": draw(maybe(st.booleans())),
        "lvef_pct": draw(maybe(usual((45, 70), 10, 80))),
        "neurological_symptoms": draw(st.sampled_from([None, False, False, True])),
        "bone_fracture_risk": draw(st.sampled_from([None, "low", "moderate", "high"])),
        "vitals": {
            "resting_hr": draw(maybe(usual((50, 110), 25, 250))),
            "systolic_bp": draw(maybe(usual((95, 170), 50, 300))),
            "diastolic_bp": draw(maybe(usual((55, 100), 20, 200))),
            "spo2": draw(maybe(usual((90, 100), 50, 100))),
            "temperature_c": draw(maybe(usual((36, 37.9), 30, 45))),
        },
        "labs": {
            "hemoglobin_g_dl": draw(maybe(usual((8.5, 16), 2, 25))),
            "platelets_10e9_l": draw(maybe(usual((25, 450), 0, 2000))),
            "anc_10e9_l": draw(maybe(usual((0.6, 8), 0, 100))),
            "glucose_mg_dl": draw(maybe(usual((75, 250), 20, 800))),
        },
        "symptoms": {
            "fatigue": draw(maybe(num(0, 10))),
            "pain": draw(maybe(num(0, 10))),
            "vomiting_24h": draw(st.sampled_from([None, False, False, False, True])),
        },
        "fitness": {"vo2peak_ml_kg_min": draw(maybe(num(3, 90)))},
    }


@st.composite
def sessions(draw: st.DrawFn) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(0, 12))):
        aerobic = draw(st.booleans())
        attended = draw(st.booleans())
        s = {
            "date": str(AS_OF - dt.timedelta(days=draw(st.integers(1, 40)))),
            "modality": "aerobic" if aerobic else "resistance",
            "planned_minutes": draw(num(1, 180)),
            "attended": attended,
            "adverse_event": draw(
                st.sampled_from(["none"] * 16 + ["mild"] * 2 + ["moderate", "serious"])
            ),
        }
        if aerobic:
            s["planned_pct_hrmax"] = draw(num(30, 100))
        else:
            s |= {
                "planned_pct_1rm": draw(num(10, 100)),
                "planned_sets": draw(st.integers(1, 10)),
                "planned_reps": draw(st.integers(1, 30)),
            }
        if attended:
            s |= {
                # the contract allows at most 3 x planned (issue #17)
                "completed_minutes": draw(num(0, min(200, 3 * s["planned_minutes"]))),
                "rpe": draw(maybe(st.integers(6, 20))),
            }
        out.append(s)
    return out


@st.composite
def current(draw: st.DrawFn) -> dict | None:
    if draw(st.booleans()):
        return None
    lo = draw(num(10, 100))
    rlo = draw(num(10, 100))
    return {
        "aerobic": draw(
            maybe(
                st.fixed_dictionaries(
                    {
                        "sessions_per_week": st.integers(0, 14),
                        "minutes_per_session": num(0, 180),
                        "intensity_pct_hrmax": st.just({"low": lo, "high": min(100.0, lo + 5)}),
                        "rpe": st.just({"low": 11, "high": 13}),
                    }
                )
            )
        ),
        "resistance": draw(
            maybe(
                st.fixed_dictionaries(
                    {
                        "sessions_per_week": st.integers(0, 14),
                        "sets": st.integers(0, 10),
                        "reps": st.just({"low": 8, "high": 12}),
                        "intensity_pct_1rm": st.just({"low": rlo, "high": min(100.0, rlo + 5)}),
                    }
                )
            )
        ),
        "restrictions": [],
    }


WILD = st.sampled_from([0.0, 1.0, math.nan, math.inf, -math.inf, -3.0, 7.0, 0.5, 0.99])


@dataclass
class Adversary:
    """A 'model' that returns whatever hypothesis chose, per row."""

    values: list[float]
    name: str = "adversary"
    version: str = "0"

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        v = np.array(self.values, dtype=float)
        return np.resize(v, len(X))

    def explain(self, X: pd.DataFrame) -> np.ndarray | None:
        return np.resize(np.array(self.values, dtype=float), (len(X), 5))


def expected_no_dose(req: RecommendRequest, history: dict) -> bool:
    """DESIGN.md section 5 hold and refer conditions, written out independently of the kernel."""
    p = req.patient
    v, lab, sym = p.vitals, p.labs, p.symptoms

    def lt(x, t):
        return x is not None and x < t

    def ge(x, t):
        return x is not None and x >= t

    hold = (
        lt(lab.platelets_10e9_l, 20)
        or lt(lab.hemoglobin_g_dl, 8)
        or (lab.anc_10e9_l is not None and lab.anc_10e9_l <= 0.5)
        or ge(v.temperature_c, 38.0)
        or ge(v.resting_hr, 120)
        or (v.systolic_bp is not None and v.systolic_bp > 200)
        or (v.diastolic_bp is not None and v.diastolic_bp > 110)
        or lt(v.spo2, 88)
        or bool(sym.vomiting_24h)
        or (history.get("serious_ae_7d") or 0) >= 1
        or (lt(lab.hemoglobin_g_dl, 9) and "cardiovascular_disease" in p.comorbidities)
        or lt(lab.glucose_mg_dl, 70)
        or (lab.glucose_mg_dl is not None and lab.glucose_mg_dl > 300)
    )
    bone = "bone" in p.metastatic_sites
    refer = (
        p.ecog >= 3
        or (bone and not p.medical_clearance)
        or ("brain" in p.metastatic_sites and not p.medical_clearance)
        or (bone and (ge(sym.pain, 7) or p.neurological_symptoms is True))
        or (bone and p.bone_fracture_risk == "high")
        or (lt(p.lvef_pct, 40) and not p.medical_clearance)
        or (lt(p.recent_surgery_days, 42) and not p.medical_clearance)
    )
    return hold or refer


def within_global_bounds(rx: Prescription) -> list[str]:
    """The global envelope of DESIGN.md section 5, independent of the kernel's code."""
    bad = []
    total = 0
    modeq = 0.0
    if rx.aerobic is not None:
        a = rx.aerobic
        total += a.sessions_per_week
        if not (40 <= a.intensity_pct_hrmax.low <= a.intensity_pct_hrmax.high <= 85):
            bad.append(f"aerobic intensity {a.intensity_pct_hrmax}")
        if not (10 <= a.minutes_per_session <= 60):
            bad.append(f"aerobic minutes {a.minutes_per_session}")
        factor = 2 if a.intensity_pct_hrmax.high >= 77 else 1
        modeq = a.sessions_per_week * a.minutes_per_session * factor
    if rx.resistance is not None:
        r = rx.resistance
        total += r.sessions_per_week
        if not (0 <= r.sessions_per_week <= 3):
            bad.append("resistance sessions")
        if not (1 <= r.sets <= 3):
            bad.append("resistance sets")
        if not (8 <= r.reps.low <= r.reps.high <= 15):
            bad.append("resistance reps")
        if not (30 <= r.intensity_pct_1rm.low <= r.intensity_pct_1rm.high <= 80):
            bad.append("resistance load")
    if total > 6:
        bad.append(f"{total} sessions per week")
    if modeq > 300 + 1e-9:
        bad.append(f"{modeq} moderate-equivalent minutes")
    return bad


def _history(patients_df: pd.DataFrame, sessions_df: pd.DataFrame) -> dict:
    base = build(patients_df, sessions_df, pd.Timestamp(AS_OF))
    return {k: base.iloc[0][k] for k in HISTORY_FACTS}


@SETTINGS
@given(
    patient=patients(),
    history=sessions(),
    cur=current(),
    tol=st.lists(WILD, min_size=1, max_size=6),
    adh=st.lists(WILD, min_size=1, max_size=6),
    thresholds=st.tuples(num(0, 1), num(0, 1)),
    rest_path=st.booleans(),
)
def test_every_recommendation_stays_inside_the_guidelines(
    patient, history, cur, tol, adh, thresholds, rest_path
) -> None:
    """Both input forms: numpy columns (the REST path) and DataFrames (the batch path)."""
    req = RecommendRequest.model_validate(
        {"patient": patient, "sessions": history, "current_prescription": cur, "as_of": str(AS_OF)}
    )
    p_df, s_df = request_to_frames(req)
    models = Models(tolerance=Adversary(tol), adherence=Adversary(adh))
    cfg = PolicyConfig(tolerance_threshold=thresholds[0], adherence_threshold=thresholds[1])
    p_in, s_in = requests_to_columns([req]) if rest_path else (p_df, s_df)
    [resp] = recommend(p_in, s_in, AS_OF, models, cfg)
    event(f"decision={resp.decision}")

    facts = _history(p_df, s_df)
    result = gk.evaluate(gk.facts_from_request(req.patient, req.current_prescription, facts))
    rx = resp.prescription
    assert resp.decision == result.decision or result.decision == "allowed"
    if expected_no_dose(req, facts):
        assert rx is None and resp.decision in ("hold", "refer")
        return
    if rx is None:
        assert resp.decision in ("hold", "refer")
        return
    assert gk.check_prescription(rx, result) == []
    assert within_global_bounds(rx) == []
    assert set(result.restrictions) <= set(rx.restrictions)
    pred = resp.predictions
    if pred is not None:
        assert math.isfinite(pred.tolerance) and math.isfinite(pred.adherence)


@SETTINGS
@given(patient=patients(), cur=current(), rest_path=st.booleans())
def test_hold_or_refer_whatever_the_models_say(patient, cur, rest_path) -> None:
    """Confident models (always 1.0) never turn a contraindication into a dose."""
    req = RecommendRequest.model_validate(
        {"patient": patient, "sessions": [], "current_prescription": cur, "as_of": str(AS_OF)}
    )
    p_in, s_in = requests_to_columns([req]) if rest_path else request_to_frames(req)
    models = Models(tolerance=Adversary([1.0]), adherence=Adversary([1.0]))
    [resp] = recommend(p_in, s_in, AS_OF, models, PolicyConfig())
    if expected_no_dose(req, {}):
        assert resp.prescription is None
        assert resp.decision in ("hold", "refer")
        assert resp.predictions is None


REFERENCE = st.one_of(
    st.none(),
    st.tuples(num(0, 8), num(0, 120), num(0, 100), num(0, 5), num(0, 6), num(0, 25), num(0, 100)),
)


@settings(SETTINGS, max_examples=max(300, settings().max_examples // 4))
@given(
    patient=patients(),
    history=sessions(),
    cur=current(),
    ref=REFERENCE,
    tol=st.lists(WILD, min_size=1, max_size=6),
    adh=st.lists(WILD, min_size=1, max_size=6),
    ratio=num(0, 5),
)
def test_a_kept_reference_and_any_risk_bound_never_loosen_the_envelope(
    patient, history, cur, ref, tol, adh, ratio
) -> None:
    """The new search's inputs: a deload's kept reference (ref_*, any values, even absurd) and
    any weekly risk ratio only steer the search; the kernel's envelope still bounds the dose."""
    req = RecommendRequest.model_validate(
        {"patient": patient, "sessions": history, "current_prescription": cur, "as_of": str(AS_OF)}
    )
    p_df, s_df = request_to_frames(req)
    if ref is not None:
        for col, value in zip(REFERENCE_COLUMNS, ref, strict=True):
            p_df[col] = value
    models = Models(tolerance=Adversary(tol), adherence=Adversary(adh))
    [resp] = recommend(p_df, s_df, AS_OF, models, PolicyConfig(generic_risk_ratio=ratio))
    facts = _history(p_df, s_df)
    result = gk.evaluate(gk.facts_from_request(req.patient, req.current_prescription, facts))
    rx = resp.prescription
    if rx is None:
        assert resp.decision in ("hold", "refer") or result.envelope.is_empty
        return
    assert gk.check_prescription(rx, result) == []
    assert within_global_bounds(rx) == []


def _chemo_request(sessions: list[dict], labs: dict) -> RecommendRequest:
    return RecommendRequest.model_validate(
        {
            "patient": {
                "patient_id": "pt-chemo",
                "age": 54,
                "sex": "female",
                "height_cm": 165,
                "weight_kg": 68,
                "cancer_type": "breast",
                "stage": "II",
                "treatment_phase": "chemotherapy",
                "days_since_infusion": 10,
                "next_infusion_in_days": 11,
                "recent_surgery_days": 150,
                "cardiotoxic_therapy": False,
                "ecog": 0,
                "resistance_experience": "experienced",
                "sarcopenia": False,
                "vitals": {"resting_hr": 70, "spo2": 98, "temperature_c": 36.6},
                "symptoms": {"fatigue": 3, "pain": 1},
                "labs": labs,
            },
            "sessions": sessions,
            "current_prescription": {
                "aerobic": {
                    "sessions_per_week": 3,
                    "minutes_per_session": 30,
                    "intensity_pct_hrmax": {"low": 64, "high": 68},
                    "rpe": {"low": 12, "high": 13},
                },
                "resistance": {
                    "sessions_per_week": 2,
                    "sets": 2,
                    "reps": {"low": 10, "high": 12},
                    "intensity_pct_1rm": {"low": 45, "high": 50},
                },
                "restrictions": [],
            },
            "as_of": str(AS_OF),
        }
    )


def _session(days_ago: int, modality: str, tolerated: bool) -> dict:
    s = {
        "date": str(AS_OF - dt.timedelta(days=days_ago)),
        "modality": modality,
        "planned_minutes": 30,
        "attended": True,
        "rpe": 12 if tolerated else 18,
    }
    if modality == "aerobic":
        return s | {"planned_pct_hrmax": 66, "completed_minutes": 30}
    return s | {"planned_pct_1rm": 50, "planned_sets": 2, "planned_reps": 12, "completed_sets": 2}


def test_unknown_facts_and_per_modality_history_reach_the_response() -> None:
    """Issue #11 item 1 and issue #10 item 3 through `recommend` (both input forms): missing labs
    on chemotherapy are named in `unknown_facts` and the dose obeys the conservative band; two
    intolerant walks with a tolerated resistance session between them hold the aerobic dose."""
    generous = Models(tolerance=Adversary([1.0]), adherence=Adversary([1.0]))
    normal = {"hemoglobin_g_dl": 12.5, "platelets_10e9_l": 220, "anc_10e9_l": 3.1}
    for rest_path in (True, False):
        req = _chemo_request([], {})
        p_in, s_in = requests_to_columns([req]) if rest_path else request_to_frames(req)
        [resp] = recommend(p_in, s_in, AS_OF, generous, PolicyConfig())
        assert set(resp.unknown_facts) == {"platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl"}
        rx = resp.prescription
        assert rx.resistance is None and rx.aerobic.intensity_pct_hrmax.high <= 63
        assert {"no_resistance", "avoid_public_facilities", "no_vigorous"} <= set(rx.restrictions)

        history = [
            _session(6, "aerobic", tolerated=False),
            _session(5, "resistance", tolerated=True),
            _session(3, "aerobic", tolerated=False),
            _session(2, "resistance", tolerated=True),
        ]
        req = _chemo_request(history, normal)
        p_in, s_in = requests_to_columns([req]) if rest_path else request_to_frames(req)
        [resp] = recommend(p_in, s_in, AS_OF, generous, PolicyConfig())
        assert resp.unknown_facts == ()
        ids = {r.id for r in resp.rules}
        assert "progression.aerobic_none_after_intolerance" in ids
        assert "progression.resistance_none_after_intolerance" not in ids
        a = resp.prescription.aerobic
        assert a.sessions_per_week * a.minutes_per_session <= 90  # not above the current dose
        assert a.intensity_pct_hrmax.high <= 68
