"""Proof of safety: hypothesis properties of the kernel over the whole contract.

Facts are generated over every contract range, with unknown values (None, NaN) anywhere, values
crowded around every threshold of DESIGN.md section 5, arbitrary history facts and arbitrary
current prescriptions. The oracles below are written again from DESIGN.md, independently of
rules.yaml, so a wrong rule file fails here.

"Tighter" (monotonicity), precisely: result B is no looser than result A when
- B's decision is at least as restrictive: allowed < refer < hold; and, when both are allowed,
- every week maximum of B is <= A's; for each modality, B does not allow it, or A allows it too and
  every maximum of B is <= A's and every minimum of B is >= A's (`envelope.no_looser`); and
- B keeps every restriction of A (it may add more).

Each property runs max(2000, active profile) examples; the `thorough` profile gives 100,000.

Properties added with guideline 2026.12.0 (issue #11):
- (f) unknown is never looser than known-bad: on chemotherapy or within 21 days of an infusion, a
  missing platelet count, ANC, hemoglobin, temperature, SpO2 or infusion date gives an envelope no
  looser than ANY in-range value of it that still allows exercise, and is named in unknown_facts;
- (g) adding a risk fact (a metastatic site, a comorbidity, a symptom, cardiotoxic therapy, a recent
  surgery, an infusion coming up, a lower LVEF, a higher fracture risk) never loosens anything;
- (h) a closed modality (or no vigorous dose at all) <=> its label in the restrictions.

Added with guideline 2026.12.7: (k) the dose the session log planned only ever tightens, and the
progression oracles of (b) read the prescription's dose, else the logged one (`dose_of`).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from features.contract.convert import prescription_to_row
from features.contract.rest import AerobicDose, IntRange, Prescription, Range, ResistanceDose
from features.contract.vocab import (
    BONE_FRACTURE_RISKS,
    COMORBIDITIES,
    LIST_SEPARATOR,
    METASTATIC_SITES,
    RESISTANCE_EXPERIENCE,
    RESTRICTIONS,
    TREATMENT_PHASES,
)
from serving.guidelines import kernel as gk
from serving.guidelines.envelope import (
    EMPTY,
    VIGOROUS_PCT_1RM,
    VIGOROUS_PCT_HRMAX,
    is_consistent,
    no_looser,
)

PROPERTY = settings(
    max_examples=max(2000, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
NAN = math.nan
RULE_IDS = {r.id for r in gk.default_rules().rules}
RANK = {"allowed": 0, "refer": 1, "hold": 2}


# ------------------------------------------------------------------------------- strategies
# Strategies are built once, at import: building them inside a composite costs milliseconds.
def unknown_or(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), st.just(NAN), strategy, strategy, strategy)


def near(lo: float, hi: float, *thresholds: float) -> st.SearchStrategy[float]:
    """Anywhere in [lo, hi], often right at or next to a clinical threshold."""
    points = [
        x
        for t in thresholds
        for x in (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf), t - 0.5, t + 0.5)
        if lo <= x <= hi
    ]
    if not points:
        return st.floats(lo, hi)
    return st.one_of(st.floats(lo, hi), st.sampled_from(points))


def joined(vocab: tuple[str, ...]) -> st.SearchStrategy[Any]:
    items = st.lists(st.sampled_from(vocab), unique=True, max_size=4)
    return st.one_of(items.map(LIST_SEPARATOR.join), items, st.none())


def ranges(lo: float, hi: float) -> st.SearchStrategy[tuple[float, float]]:
    return st.tuples(st.floats(lo, hi), st.floats(lo, hi)).map(lambda t: (min(t), max(t)))


def int_ranges(lo: int, hi: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(lambda t: (min(t), max(t)))


WILD = st.floats(allow_nan=False, allow_infinity=False)  # huge, tiny and negative too
BANDS = {
    True: st.one_of(ranges(0, 120), ranges(-1e12, 1e12), st.tuples(WILD, WILD).map(sorted)),
    False: ranges(0, 120),
}
RPE_BANDS = {True: int_ranges(-50, 50), False: int_ranges(6, 20)}
REP_BANDS = {True: int_ranges(-100, 100), False: int_ranges(1, 30)}


def _aerobic(wild: bool) -> st.SearchStrategy[AerobicDose]:
    return st.builds(
        lambda s, m, pct, rpe: AerobicDose(
            sessions_per_week=s,
            minutes_per_session=m,
            intensity_pct_hrmax=Range(low=pct[0], high=pct[1]),
            rpe=IntRange(low=rpe[0], high=rpe[1]),
        ),
        st.integers(0, 14),
        st.floats(0, 180),
        BANDS[wild],
        RPE_BANDS[wild],
    )


def _resistance(wild: bool) -> st.SearchStrategy[ResistanceDose]:
    return st.builds(
        lambda s, sets, reps, pct: ResistanceDose(
            sessions_per_week=s,
            sets=sets,
            reps=IntRange(low=reps[0], high=reps[1]),
            intensity_pct_1rm=Range(low=pct[0], high=pct[1]),
        ),
        st.integers(0, 14),
        st.integers(0, 10),
        REP_BANDS[wild],
        BANDS[wild],
    )


def _prescriptions(wild: bool) -> st.SearchStrategy[Prescription]:
    return st.builds(
        lambda a, r, restrictions: Prescription(aerobic=a, resistance=r, restrictions=restrictions),
        st.one_of(st.none(), _aerobic(wild), _aerobic(wild), _aerobic(wild)),
        st.one_of(st.none(), _resistance(wild), _resistance(wild), _resistance(wild)),
        st.lists(st.sampled_from(RESTRICTIONS), unique=True, max_size=4),
    )


WILD_RX = _prescriptions(wild=True)
TAME_RX = _prescriptions(wild=False)


def prescriptions(wild: bool = True) -> st.SearchStrategy[Prescription]:
    """Any valid Prescription object; with `wild`, bands take any finite value at all."""
    return st.one_of(WILD_RX, TAME_RX) if wild else TAME_RX


STREAK = st.one_of(st.integers(0, 6), st.none())
AE_COUNT = st.one_of(st.just(0), st.integers(0, 3), st.none())
# The logged dose (history facts of 2026.12.7), per modality in the order sessions per week,
# minutes (sets), intensity (%HRmax, %1RM); and the prescription's facts of the same dose.
LOGGED = {
    "aerobic": (
        "aerobic_sessions_per_week_28d",
        "aerobic_minutes_mean_28d",
        "aerobic_pct_hrmax_mean_28d",
    ),
    "resistance": (
        "resistance_sessions_per_week_28d",
        "resistance_sets_mean_28d",
        "resistance_pct_1rm_mean_28d",
    ),
}
STATED = {
    "aerobic": ("rx_aerobic_sessions", "rx_aerobic_minutes", "rx_aerobic_pct_hrmax_high"),
    "resistance": ("rx_resistance_sessions", "rx_resistance_sets", "rx_resistance_pct_1rm_high"),
}
LOGGED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "aerobic_sessions_per_week_28d": unknown_or(near(0, 14, 0.25, 1, 2, 3)),
    "aerobic_minutes_mean_28d": unknown_or(near(0, 180, 10, 30)),
    "aerobic_pct_hrmax_mean_28d": unknown_or(near(30, 100, 63, 76)),
    "resistance_sessions_per_week_28d": unknown_or(near(0, 14, 0.25, 1, 2)),
    "resistance_sets_mean_28d": unknown_or(near(1, 10, 2)),
    "resistance_pct_1rm_mean_28d": unknown_or(near(10, 100, 50, 70)),
}
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "age": st.integers(18, 110),
    "ecog": st.one_of(st.integers(0, 4), st.integers(0, 4), st.none()),
    "metastatic_sites": joined(METASTATIC_SITES),
    "comorbidities": joined(COMORBIDITIES),
    "medical_clearance": st.one_of(st.booleans(), st.none()),
    "resistance_experience": st.one_of(st.sampled_from(RESISTANCE_EXPERIENCE), st.none()),
    "sarcopenia": st.one_of(st.booleans(), st.none()),
    "treatment_phase": st.one_of(st.sampled_from(TREATMENT_PHASES), st.none()),
    "days_since_infusion": unknown_or(near(0, 60, 0, 1, 5, 21)),
    "next_infusion_in_days": unknown_or(near(0, 60, 0, 1, 2, 21)),
    "recent_surgery_days": unknown_or(near(0, 400, 42, 84)),
    "cardiotoxic_therapy": st.one_of(st.booleans(), st.none()),
    "lvef_pct": unknown_or(near(10, 80, 40)),
    "neurological_symptoms": st.one_of(st.just(False), st.booleans(), st.none()),
    "bone_fracture_risk": st.one_of(st.sampled_from(BONE_FRACTURE_RISKS), st.none()),
    "glucose_mg_dl": unknown_or(near(20, 800, 70, 300)),
    "resting_hr": unknown_or(near(25, 250, 100, 120)),
    "systolic_bp": unknown_or(near(50, 300, 200)),
    "diastolic_bp": unknown_or(near(20, 200, 110)),
    "spo2": unknown_or(near(50, 100, 88, 95)),
    "temperature_c": unknown_or(near(30, 45, 38)),
    "hemoglobin_g_dl": unknown_or(near(2, 25, 8, 9, 10)),
    "platelets_10e9_l": unknown_or(st.one_of(near(0, 2000, 20, 50), st.floats(0, 80))),
    "anc_10e9_l": unknown_or(st.one_of(near(0, 100, 0.5, 1.5), st.floats(0, 3))),
    "fatigue": unknown_or(near(0, 10, 8)),
    "pain": unknown_or(near(0, 10, 7)),
    "vomiting_24h": st.one_of(st.booleans(), st.booleans(), st.none()),
    "serious_ae_7d": st.one_of(st.just(0), st.just(0), st.integers(0, 3), st.none()),
    "moderate_ae_7d": st.one_of(st.just(0), st.integers(0, 4), st.none()),
    "intolerant_streak": STREAK,
    "aerobic_intolerant_streak": STREAK,
    "resistance_intolerant_streak": STREAK,
    "aerobic_moderate_ae_7d": AE_COUNT,
    "resistance_moderate_ae_7d": AE_COUNT,
    "aerobic_completion_rate_14d": unknown_or(near(0, 1.5, 0.9)),
    "resistance_completion_rate_14d": unknown_or(near(0, 1.5, 0.9)),
    # PAL's symptom-free weeks for lymphedema (2026.12.4)
    "resistance_tolerated_rate_14d": unknown_or(near(0, 1, 1)),
    "resistance_moderate_ae_14d": AE_COUNT,
    # the tolerated record (2026.12.3): often above the current dose, sometimes absurd
    "aerobic_tolerated_weekly_minutes_28d": unknown_or(near(0, 2000, 90, 99, 150)),
    "resistance_tolerated_pct_1rm_28d": unknown_or(near(0, 100, 50, 60, 70)),
    # the last 7 days' in-session symptom scores (2026.12.3): read when the visit has none
    "fatigue_mean_7d": unknown_or(near(0, 10, 8)),
    "pain_mean_7d": unknown_or(near(0, 10, 8)),
    "fatigue_8plus_7d": st.one_of(st.just(0), st.integers(0, 3), st.none()),
    "pain_8plus_7d": st.one_of(st.just(0), st.integers(0, 3), st.none()),
    # the dose the session log planned in the last 28 days (2026.12.7): read by the progression
    # rules when the current prescription does not state that modality
    **LOGGED_VALUES,
}
# Facts added with guideline 2026.12.0, as the older archetypes hold them (unknown / none).
NEW_FACTS_UNKNOWN: dict[str, Any] = {
    "next_infusion_in_days": None,
    "recent_surgery_days": None,
    "cardiotoxic_therapy": None,
    "lvef_pct": None,
    "neurological_symptoms": None,
    "bone_fracture_risk": None,
    "glucose_mg_dl": None,
    "aerobic_intolerant_streak": None,
    "resistance_intolerant_streak": None,
    "aerobic_moderate_ae_7d": None,
    "resistance_moderate_ae_7d": None,
    "aerobic_completion_rate_14d": None,
    "resistance_completion_rate_14d": None,
    "resistance_tolerated_rate_14d": None,
    "resistance_moderate_ae_14d": None,
    "aerobic_tolerated_weekly_minutes_28d": None,
    "resistance_tolerated_pct_1rm_28d": None,
    "fatigue_mean_7d": None,
    "pain_mean_7d": None,
    "fatigue_8plus_7d": None,
    "pain_8plus_7d": None,
    **dict.fromkeys(LOGGED_VALUES),
}
# Starting points that are themselves valid patients; examples change up to 12 facts of one.
_ARCHETYPES: tuple[dict[str, Any], ...] = (
    {  # well survivor after treatment
        "age": 50,
        "ecog": 0,
        "metastatic_sites": "",
        "comorbidities": "",
        "medical_clearance": False,
        "resistance_experience": "experienced",
        "sarcopenia": False,
        "treatment_phase": "post_treatment",
        "days_since_infusion": None,
        "resting_hr": 70.0,
        "systolic_bp": 120.0,
        "diastolic_bp": 80.0,
        "spo2": 98.0,
        "temperature_c": 36.6,
        "hemoglobin_g_dl": 13.0,
        "platelets_10e9_l": 250.0,
        "anc_10e9_l": 4.0,
        "fatigue": 2.0,
        "pain": 1.0,
        "vomiting_24h": False,
        "serious_ae_7d": 0,
        "moderate_ae_7d": 0,
        "intolerant_streak": 0,
    },
    {  # mid-chemotherapy, some values missing
        "age": 62,
        "ecog": 1,
        "metastatic_sites": "",
        "comorbidities": "peripheral_neuropathy",
        "medical_clearance": True,
        "resistance_experience": "novice",
        "sarcopenia": None,
        "treatment_phase": "chemotherapy",
        "days_since_infusion": 6.0,
        "resting_hr": 88.0,
        "systolic_bp": 132.0,
        "diastolic_bp": 84.0,
        "spo2": None,
        "temperature_c": 37.1,
        "hemoglobin_g_dl": 10.4,
        "platelets_10e9_l": 140.0,
        "anc_10e9_l": 1.9,
        "fatigue": 5.0,
        "pain": NAN,
        "vomiting_24h": None,
        "serious_ae_7d": 0,
        "moderate_ae_7d": 0,
        "intolerant_streak": 1,
    },
    {  # metastatic, cleared, frail
        "age": 74,
        "ecog": 2,
        "metastatic_sites": "bone;liver",
        "comorbidities": "lymphedema",
        "medical_clearance": True,
        "resistance_experience": "none",
        "sarcopenia": True,
        "treatment_phase": "palliative",
        "days_since_infusion": None,
        "resting_hr": 96.0,
        "systolic_bp": 145.0,
        "diastolic_bp": 90.0,
        "spo2": 93.0,
        "temperature_c": 36.9,
        "hemoglobin_g_dl": 9.8,
        "platelets_10e9_l": 95.0,
        "anc_10e9_l": 2.5,
        "fatigue": 6.0,
        "pain": 4.0,
        "vomiting_24h": False,
        "serious_ae_7d": 0,
        "moderate_ae_7d": 1,
        "intolerant_streak": 0,
    },
    {  # on chemotherapy, next infusion in 3 days, labs partly unknown, cardiotoxic, bone mets
        "age": 58,
        "ecog": 1,
        "metastatic_sites": "bone",
        "comorbidities": "osteoporosis",
        "medical_clearance": True,
        "resistance_experience": "experienced",
        "sarcopenia": False,
        "treatment_phase": "chemotherapy",
        "days_since_infusion": 18.0,
        "next_infusion_in_days": 3.0,
        "recent_surgery_days": 70.0,
        "cardiotoxic_therapy": True,
        "lvef_pct": 52.0,
        "neurological_symptoms": False,
        "bone_fracture_risk": "low",
        "glucose_mg_dl": 110.0,
        "resting_hr": 84.0,
        "systolic_bp": 128.0,
        "diastolic_bp": 82.0,
        "spo2": None,
        "temperature_c": None,
        "hemoglobin_g_dl": 10.9,
        "platelets_10e9_l": None,
        "anc_10e9_l": 1.7,
        "fatigue": 4.0,
        "pain": 3.0,
        "vomiting_24h": False,
        "serious_ae_7d": 0,
        "moderate_ae_7d": 1,
        "intolerant_streak": 2,
        "aerobic_intolerant_streak": 0,
        "resistance_intolerant_streak": 2,
        "aerobic_moderate_ae_7d": 1,
        "resistance_moderate_ae_7d": 0,
        "aerobic_completion_rate_14d": 0.95,
        "resistance_completion_rate_14d": 0.8,
    },
)
ARCHETYPES = tuple(NEW_FACTS_UNKNOWN | a for a in _ARCHETYPES)
ARCHETYPE = st.sampled_from(ARCHETYPES)
FIELDS_TO_CHANGE = st.lists(st.sampled_from(sorted(FIELD_VALUES)), unique=True, max_size=12)
CURRENT = st.one_of(st.none(), WILD_RX, TAME_RX)
PATIENT_COLUMNS = st.fixed_dictionaries(FIELD_VALUES)  # every fact drawn (slower, rarer)


@st.composite
def _changed_archetype(draw: st.DrawFn) -> dict[str, Any]:
    f = dict(draw(ARCHETYPE))
    for name in draw(FIELDS_TO_CHANGE):
        f[name] = draw(FIELD_VALUES[name])
    return f


FACTS = st.builds(
    lambda f, rx: {"patient_id": "pt-prop"} | f | prescription_to_row(rx),
    st.one_of(_changed_archetype(), _changed_archetype(), _changed_archetype(), PATIENT_COLUMNS),
    CURRENT,
)


def facts() -> st.SearchStrategy[dict[str, Any]]:
    """Patient columns over the whole contract (unknowns anywhere), history facts and rx_*.

    Mostly one of three archetypes with up to 12 facts changed to anything in the contract (fast,
    and a failure shrinks to the few facts that matter); one time in four every fact is drawn."""
    return FACTS


def _floor_at(v: Any, lo: float) -> float | None:
    x = _n(v)
    return None if x is None else max(x, lo)


def _ceil_at(v: Any, hi: float) -> float | None:
    x = _n(v)
    return None if x is None else min(x, hi)


def calm(f: dict[str, Any]) -> dict[str, Any]:
    """The same facts without any hold condition (to reach the other rules more often);
    unknown values stay unknown."""
    cardiac = "cardiovascular_disease" in _items(f.get("comorbidities"))
    glucose = _n(f.get("glucose_mg_dl"))
    return f | {
        "platelets_10e9_l": _floor_at(f["platelets_10e9_l"], 20),
        "hemoglobin_g_dl": _floor_at(f["hemoglobin_g_dl"], 9 if cardiac else 8),
        "glucose_mg_dl": None if glucose is None else min(max(glucose, 70), 300),
        "anc_10e9_l": _floor_at(f["anc_10e9_l"], 0.51),  # 0.5 itself holds (2026.12.1)
        "temperature_c": _ceil_at(f["temperature_c"], 37.9),
        "resting_hr": _ceil_at(f["resting_hr"], 119),
        "systolic_bp": _ceil_at(f["systolic_bp"], 200),
        "diastolic_bp": _ceil_at(f["diastolic_bp"], 110),
        "spo2": _floor_at(f["spo2"], 88),
        "vomiting_24h": False,
        "serious_ae_7d": 0,
    }


PATIENTS_FACTS = st.one_of(FACTS, FACTS.map(lambda f: calm(f)), FACTS.map(lambda f: calm(f)))


def patients_facts() -> st.SearchStrategy[dict[str, Any]]:
    """Facts, two times in three without any hold condition (so the caps are exercised)."""
    return PATIENTS_FACTS


# ------------------------------------------------------------------------------- oracles
def _n(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _unknown(v: Any) -> bool:
    """An unknown value: None or NaN (of any type: a fact may be a number, a flag or a label)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def _items(v: Any) -> set[str]:
    if v is None:
        return set()
    return set(v.split(LIST_SEPARATOR)) - {""} if isinstance(v, str) else set(v)


def expected_hold(f: dict[str, Any]) -> bool:
    """DESIGN.md section 5.1, written again."""

    def lt(k: str, t: float) -> bool:
        return (v := _n(f.get(k))) is not None and v < t

    def ge(k: str, t: float) -> bool:
        return (v := _n(f.get(k))) is not None and v >= t

    def le(k: str, t: float) -> bool:
        return (v := _n(f.get(k))) is not None and v <= t

    def gt(k: str, t: float) -> bool:
        return (v := _n(f.get(k))) is not None and v > t

    return (
        lt("platelets_10e9_l", 20)
        or lt("hemoglobin_g_dl", 8)
        or le("anc_10e9_l", 0.5)  # <= as the verified source (DESIGN 5.1 writes <; 2026.12.1)
        or ge("temperature_c", 38.0)
        or ge("resting_hr", 120)
        or gt("systolic_bp", 200)
        or gt("diastolic_bp", 110)
        or lt("spo2", 88)
        or f.get("vomiting_24h") is True
        or ge("serious_ae_7d", 1)
        or (lt("hemoglobin_g_dl", 9) and "cardiovascular_disease" in _items(f.get("comorbidities")))
        or lt("glucose_mg_dl", 70)
        or gt("glucose_mg_dl", 300)
    )


def expected_refer(f: dict[str, Any]) -> bool:
    """DESIGN.md section 5.2 and issue #11, written again (clearance unknown = not cleared)."""
    sites = _items(f.get("metastatic_sites"))
    cleared = f.get("medical_clearance") is True
    ecog, pain = _n(f.get("ecog")), _n(f.get("pain"))
    lvef, surgery = _n(f.get("lvef_pct")), _n(f.get("recent_surgery_days"))
    bone_alarm = (pain is not None and pain >= 7) or f.get("neurological_symptoms") is True
    bone_alarm |= symptom_recent_severe(f, "pain")  # no visit score, a session at 8+ (2026.12.5)
    return (
        (ecog is not None and ecog >= 3)
        or (not cleared and bool(sites & {"bone", "brain"}))
        or ("bone" in sites and (bone_alarm or f.get("bone_fracture_risk") == "high"))
        or (not cleared and lvef is not None and lvef < 40)
        or (not cleared and surgery is not None and surgery < 42)
    )


def in_chemo_window(f: dict[str, Any]) -> bool:
    """On chemotherapy, or within 21 days of an infusion (the last or the next one)."""
    days, nxt = _n(f.get("days_since_infusion")), _n(f.get("next_infusion_in_days"))
    return (
        f.get("treatment_phase") == "chemotherapy"
        or (days is not None and days <= 21)
        or (nxt is not None and nxt <= 21)
    )


WINDOW_FACTS = (
    "platelets_10e9_l",
    "anc_10e9_l",
    "hemoglobin_g_dl",
    "temperature_c",
    "spo2",
    "days_since_infusion",
    "resting_hr",
    "next_infusion_in_days",
)
# Named when missing whatever the treatment (2026.12.2): vitals, recent surgery.
ANYWHERE_UNKNOWN = ("resting_hr", "spo2", "recent_surgery_days")
ENDED = ("post_treatment", "none")  # phases after treatment: no next infusion is planned


def symptom_recent_severe(f: dict[str, Any], k: str) -> bool:
    """2026.12.3: no visit score for symptom `k`, a session of the last 7 days scored it 8+."""
    return _unknown(f.get(k)) and (_n(f.get(f"{k}_8plus_7d")) or 0) >= 1


def symptom_unscored(f: dict[str, Any], k: str) -> bool:
    """2026.12.3: no visit score for symptom `k` and no session score in the last 7 days."""
    recent = (f"{k}_mean_7d", f"{k}_8plus_7d")
    return _unknown(f.get(k)) and any(_unknown(f.get(h)) for h in recent)


def expected_unknown(f: dict[str, Any]) -> set[str]:
    """The facts `unknown_facts` must name (issue #11 item 1; bone metastases' refer facts,
    2026.12.1; vitals, cardiotoxic therapy, surgery and the next infusion, 2026.12.2; symptom
    scores, 2026.12.3), written again."""
    out = {k for k in ANYWHERE_UNKNOWN if _unknown(f.get(k))}
    if _unknown(f.get("cardiotoxic_therapy")) and f.get("medical_clearance") is not True:
        out.add("cardiotoxic_therapy")
    if "bone" in _items(f.get("metastatic_sites")):
        out |= {k for k in ("pain", "neurological_symptoms") if _unknown(f.get(k))}
    out |= {k for k in ("fatigue", "pain") if symptom_unscored(f, k)}
    stated = {m for m in STATED if any(_n(f.get(k)) is not None for k in STATED[m])}
    if any(m not in stated and dose_of(f, m)[0] is not None for m in STATED):
        out.add("current_prescription")  # the session log stood in for it (2026.12.7)
    if not in_chemo_window(f):
        return out
    out |= {k for k in WINDOW_FACTS if _unknown(f.get(k))}
    if f.get("treatment_phase") in ENDED:
        out.discard("next_infusion_in_days")
    anc = _n(f.get("anc_10e9_l"))
    if anc is not None and anc >= 1.5:
        out.discard("temperature_c")
    return out


def _modality_stalled(f: dict[str, Any], m: str) -> bool:
    """Per-modality "not tolerated lately" (issue #10 item 3); the all-session fact stands in
    for a per-modality one that is not known."""

    def value(name: str, overall: str) -> float:
        v = _n(f.get(f"{m}_{name}"))
        return (_n(f.get(overall)) or 0) if v is None else v

    comp = _n(f.get(f"{m}_completion_rate_14d"))
    return (
        value("intolerant_streak", "intolerant_streak") >= 2
        or value("moderate_ae_7d", "moderate_ae_7d") >= 1
        or (comp is not None and comp < 0.9)
    )


def global_bounds_hold(res: gk.KernelResult) -> None:
    """DESIGN.md section 5.3 global caps, written again."""
    env = res.envelope
    assert is_consistent(env), env
    assert env.total_sessions_max <= 6
    assert env.weekly_modeq_minutes_max <= 300
    if env.aerobic_allowed:
        assert 40 <= env.aerobic_pct_hrmax_min <= env.aerobic_pct_hrmax_max <= 85
        assert 10 <= env.aerobic_minutes_min <= env.aerobic_minutes_max <= 60
        assert 1 <= env.aerobic_sessions_max <= 6
        assert env.aerobic_rpe_max <= 17
    if env.resistance_allowed:
        assert 1 <= env.resistance_sessions_max <= 3
        assert 1 <= env.resistance_sets_min <= env.resistance_sets_max <= 3
        assert 8 <= env.resistance_reps_min <= env.resistance_reps_max <= 15
        assert 30 <= env.resistance_pct_1rm_min <= env.resistance_pct_1rm_max <= 80
        assert env.resistance_pct_1rm_max <= env.resistance_pct_1rm_progression_max
        assert "no_resistance" not in res.restrictions
    assert set(res.restrictions) <= set(RESTRICTIONS)
    assert list(res.restrictions) == sorted(set(res.restrictions))
    assert {r.id for r in res.fired} <= RULE_IDS


def dose_of(f: dict[str, Any], modality: str) -> tuple[float | None, ...]:
    """The dose the progression limits start from (SAFETY.md, 2026.12.7): the prescription's
    (sessions, minutes or sets, intensity) when it states any of them, else the logged dose of
    the last 28 days when its sessions and its minutes (aerobic) or load (resistance) are
    positive, sessions rounded down to at least 1 and sets rounded down; else unknown."""
    stated = tuple(_n(f.get(k)) for k in STATED[modality])
    if any(v is not None for v in stated):
        return stated
    s, sets_or_minutes, pct = (_n(f.get(k)) for k in LOGGED[modality])
    amount = sets_or_minutes if modality == "aerobic" else pct
    if s is None or s <= 0 or amount is None or amount <= 0:
        return (None, None, None)
    if modality == "resistance" and sets_or_minutes is not None:
        sets_or_minutes = float(math.floor(sets_or_minutes))
    return (float(max(1, math.floor(s))), sets_or_minutes, pct)


def clinical_caps_hold(f: dict[str, Any], res: gk.KernelResult) -> None:
    """The section 5.3 caps that matter most, checked against the facts directly."""
    env, restr = res.envelope, set(res.restrictions)
    plt, anc, hb, hr = (
        _n(f.get(k)) for k in ("platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl", "resting_hr")
    )
    ecog = _n(f.get("ecog"))
    sites, comorb = _items(f.get("metastatic_sites")), _items(f.get("comorbidities"))
    spo2, fatigue = _n(f.get("spo2")), _n(f.get("fatigue"))
    days, nxt = _n(f.get("days_since_infusion")), _n(f.get("next_infusion_in_days"))
    surgery = _n(f.get("recent_surgery_days"))
    cleared = f.get("medical_clearance") is True
    cardiac = ("cardiovascular_disease" in comorb or f.get("cardiotoxic_therapy") is True) and (
        not cleared
    )
    window = in_chemo_window(f)
    unknown = expected_unknown(f)
    pain = _n(f.get("pain"))
    infusion_day = (days is not None and days < 1) or (nxt is not None and nxt < 1)
    no_vig = (
        (anc is not None and anc < 1.5)
        or (hb is not None and hb < 10)
        or (hr is not None and hr >= 100)
        or (ecog is not None and ecog >= 2)
        or bool(sites & {"lung", "brain", "gi"})
        or (spo2 is not None and spo2 < 95)
        or (fatigue is not None and fatigue >= 8)
        or (pain is not None and pain >= 8)
        or any(symptom_recent_severe(f, k) for k in ("fatigue", "pain"))
        or (days is not None and days <= 5)
        or (nxt is not None and nxt <= 2)
        or cardiac
        or bool(unknown - {"platelets_10e9_l", "recent_surgery_days"})
    )
    if no_vig:
        assert "no_vigorous" in restr
    if "no_vigorous" in restr:
        assert env.aerobic_pct_hrmax_max <= 76 and env.resistance_pct_1rm_max <= 69
    if (plt is not None and plt <= 50) or "platelets_10e9_l" in unknown:
        assert not env.resistance_allowed and "no_resistance" in restr
        assert env.aerobic_pct_hrmax_max <= 63 and env.aerobic_rpe_max <= 11  # light (2026.12.5)
    assert set(res.unknown_facts) == unknown
    if "temperature_c" in unknown:
        assert {"check_temperature", "avoid_public_facilities"} <= restr
    if infusion_day or {"days_since_infusion", "next_infusion_in_days"} & unknown:
        assert env.aerobic_pct_hrmax_max <= 63 and env.aerobic_rpe_max <= 11
        assert env.resistance_pct_1rm_max <= 50

    # ("pain" in `unknown` may come from bone metastases alone: their own band, not this one;
    # a random deep run found the example, session 12)
    symptomatic = (fatigue is not None and fatigue >= 8) or (pain is not None and pain >= 8)
    symptomatic |= any(symptom_recent_severe(f, k) for k in ("fatigue", "pain"))
    symptomatic |= any(symptom_unscored(f, k) for k in ("fatigue", "pain"))
    if symptomatic:
        assert env.aerobic_pct_hrmax_max <= 63 and env.aerobic_minutes_max <= 10
        assert env.resistance_pct_1rm_max <= 50 and env.resistance_sets_max <= 2
    if cardiac or "cardiotoxic_therapy" in unknown:
        assert env.resistance_pct_1rm_max <= 60
    if (surgery is not None and surgery < 84) or "recent_surgery_days" in unknown:
        assert env.resistance_pct_1rm_max <= 50
    if "osteoporosis" in comorb or f.get("treatment_phase") == "hormone_therapy":
        assert {"no_high_impact", "no_spinal_loading"} <= restr
    if "ostomy" in comorb:
        assert {"supervised_resistance", "no_high_intra_abdominal_pressure"} <= restr
        if not cleared:
            assert not env.resistance_allowed
    if "liver" in sites:
        assert env.aerobic_pct_hrmax_max <= 63 and env.aerobic_minutes_max <= 30
    if ecog is not None and ecog >= 2:
        assert env.aerobic_minutes_max <= 30
    if "bone" in sites:
        assert {"no_high_impact", "no_spinal_loading", "supervised_resistance"} <= restr
        assert env.resistance_pct_1rm_max <= 60
        if f.get("bone_fracture_risk") != "low":
            assert "supervised_only" in restr and env.resistance_pct_1rm_max <= 50
    if "gi" in sites:
        assert env.resistance_pct_1rm_max <= 50
    if "brain" in sites:
        assert {"balance_focus", "supervised_only", "stationary_modes_only"} <= restr
        assert env.aerobic_pct_hrmax_max <= 63 and env.resistance_pct_1rm_max <= 50
    if sites & {"lymph_node"} or "lymphedema" in comorb:
        assert "supervised_resistance" in restr
    if "peripheral_neuropathy" in comorb:
        assert {"stationary_modes_only", "balance_focus"} <= restr
    if anc is not None and anc < 1.5:
        assert "avoid_public_facilities" in restr
    if f.get("treatment_phase") == "radiotherapy":
        assert "no_chlorinated_pools" in restr
    if env.aerobic_pct_hrmax_max > 76:  # vigorous only for the eligible
        assert ecog == 0 and not sites and not cardiac
        assert days is None or days > 5
        assert nxt is None or nxt > 2
        assert not (days is None and window)
    if env.resistance_pct_1rm_max > 70:
        assert f.get("resistance_experience") == "experienced" and not (restr - {"no_aerobic"})
    # progression over the current prescription, or over the tolerated record when known and
    # larger (2026.12.3); an unknown record is no record
    a_s, a_m, a_hi = dose_of(f, "aerobic")
    a_rec = _n(f.get("aerobic_tolerated_weekly_minutes_28d")) or 0.0
    if env.aerobic_allowed and a_s is not None and a_m is not None and a_s >= 1 and a_m > 0:
        assert env.aerobic_weekly_volume_max <= 1.1 * max(a_s * a_m, a_rec) + 1e-6
    r_s, r_sets, r_hi = dose_of(f, "resistance")
    r_rec = _n(f.get("resistance_tolerated_pct_1rm_28d")) or 0.0
    has_r = r_s is not None and r_hi is not None and r_s >= 1 and r_hi > 0
    if env.resistance_allowed and has_r:
        assert env.resistance_pct_1rm_max <= 1.1 * max(r_hi, r_rec) + 1e-6
        if sites & {"lymph_node"} or "lymphedema" in comorb:
            assert env.resistance_pct_1rm_max <= 1.05 * r_hi + 1e-6
    rx_s, _, rx_hi = (_n(f.get(k)) for k in STATED["resistance"])
    prescribed_r = rx_s is not None and rx_hi is not None and rx_s >= 1 and rx_hi > 0
    if env.resistance_allowed and not prescribed_r:
        # starting dose: none prescribed (a logged dose does not count, 2026.12.7)
        novice = f.get("resistance_experience") != "experienced"
        lymphatic = "lymph_node" in sites or "lymphedema" in comorb
        if novice or f.get("sarcopenia") is not False or lymphatic:
            assert env.resistance_pct_1rm_max <= 50
    # per-modality progression (issue #10 item 3)
    has_a = a_s is not None and a_m is not None and a_s >= 1 and a_m > 0
    a_stalled, r_stalled = _modality_stalled(f, "aerobic"), _modality_stalled(f, "resistance")
    # lymphedema or nodal metastases: resistance waits for 14 symptom-free days (2026.12.4)
    rate, ae14 = _n(f.get("resistance_tolerated_rate_14d")), _n(f.get("resistance_moderate_ae_14d"))
    symptom_free = rate is not None and rate >= 1 and ae14 is not None and ae14 < 1
    r_held = r_stalled or (("lymph_node" in sites or "lymphedema" in comorb) and not symptom_free)
    # no completed session logged in 14 days: no evidence the dose is completed (2026.12.5)
    a_held = a_stalled or _n(f.get("aerobic_completion_rate_14d")) is None
    r_held |= _n(f.get("resistance_completion_rate_14d")) is None
    if has_a and a_held and env.aerobic_allowed:
        assert env.aerobic_weekly_volume_max <= a_s * a_m + 1e-6
        assert env.aerobic_sessions_max <= a_s and env.aerobic_pct_hrmax_max <= (a_hi or 0) + 1e-6
        assert env.aerobic_minutes_max <= a_m + 1e-6  # no longer sessions either (2026.12.6)
    if has_r and r_held and env.resistance_allowed:
        assert env.resistance_pct_1rm_max <= r_hi + 1e-6 and env.resistance_sessions_max <= r_s
        assert env.resistance_sets_max <= (r_sets or 0)
    if (a_stalled or r_stalled) and (has_a or has_r):  # no new modality while stalled
        if env.aerobic_allowed:
            assert has_a
        if env.resistance_allowed:
            assert has_r
    labels_follow_the_envelope(res)


def labels_follow_the_envelope(res: gk.KernelResult) -> None:
    """(h) A closed modality, or no vigorous dose at all, <=> its label (written again)."""
    env, restr = res.envelope, set(res.restrictions)
    assert (not env.aerobic_allowed) == ("no_aerobic" in restr)
    assert (not env.resistance_allowed) == ("no_resistance" in restr)
    vigorous_open = (env.aerobic_allowed and env.aerobic_pct_hrmax_max >= VIGOROUS_PCT_HRMAX) or (
        env.resistance_allowed and env.resistance_pct_1rm_max >= VIGOROUS_PCT_1RM
    )
    assert vigorous_open == ("no_vigorous" not in restr)
    if "no_vigorous" in restr:
        assert env.aerobic_rpe_max <= 13


# ------------------------------------------------------------------------------- (a) decisions
@PROPERTY
@given(patients_facts())
def test_a_hold_and_refer_conditions_decide(f: dict[str, Any]) -> None:
    """Every hold condition -> hold with the empty envelope; every refer condition (and no hold)
    -> refer; and nothing else holds or refers."""
    res = gk.evaluate(f)
    if expected_hold(f):
        assert res.decision == "hold"
    elif expected_refer(f):
        assert res.decision == "refer"
    else:
        assert res.decision == "allowed"
    if res.decision != "allowed":
        assert res.envelope == EMPTY and res.restrictions == ()
        assert all(r.kind in ("hold", "refer") for r in res.fired)
        assert gk.clamp_prescription(Prescription(aerobic=_any_aerobic()), res) is None


def _any_aerobic() -> AerobicDose:
    return AerobicDose(
        sessions_per_week=1,
        minutes_per_session=10,
        intensity_pct_hrmax=Range(low=40, high=45),
        rpe=IntRange(low=9, high=10),
    )


@PROPERTY
@given(
    patients_facts(),
    st.sampled_from(
        [
            ("platelets_10e9_l", 19.99),
            ("hemoglobin_g_dl", 7.9),
            ("anc_10e9_l", 0.49),
            ("anc_10e9_l", 0.5),
            ("temperature_c", 38.0),
            ("resting_hr", 120),
            ("systolic_bp", 200.01),
            ("diastolic_bp", 110.01),
            ("spo2", 87.99),
            ("vomiting_24h", True),
            ("serious_ae_7d", 1),
            ("glucose_mg_dl", 69.99),
            ("glucose_mg_dl", 300.01),
        ]
    ),
)
def test_a_every_hold_condition_holds(f: dict[str, Any], condition: tuple[str, Any]) -> None:
    name, value = condition
    res = gk.evaluate(f | {name: value})
    assert res.decision == "hold" and res.envelope == EMPTY
    assert any(r.kind == "hold" for r in res.fired)


@PROPERTY
@given(
    patients_facts().map(calm),
    st.sampled_from(
        [
            {"ecog": 3},
            {"ecog": 4},
            {"metastatic_sites": "bone", "medical_clearance": False},
            {"metastatic_sites": "brain;liver", "medical_clearance": None},
            {"metastatic_sites": "bone", "medical_clearance": True, "pain": 7},
            {"metastatic_sites": "bone", "medical_clearance": True, "neurological_symptoms": True},
            {
                "metastatic_sites": "bone;lung",
                "medical_clearance": True,
                "bone_fracture_risk": "high",
            },
            {"lvef_pct": 39.9, "medical_clearance": False},
            {"recent_surgery_days": 41, "medical_clearance": None},
        ]
    ),
)
def test_a_every_refer_condition_refers(f: dict[str, Any], condition: dict[str, Any]) -> None:
    res = gk.evaluate(f | condition)
    assert res.decision == "refer" and res.envelope == EMPTY


# ------------------------------------------------------------------------------- (b) bounds
@PROPERTY
@given(patients_facts())
@example(  # session 12's deep run: bone metastases, pain blank at the visit, scored 0 in sessions
    {"patient_id": "pt-prop"}
    | ARCHETYPES[0]
    | {"metastatic_sites": "bone", "pain": None, "pain_mean_7d": 0.0, "pain_8plus_7d": 0}
    | {"fatigue": 3.0, "medical_clearance": True}
)
def test_b_envelope_within_global_bounds_and_consistent(f: dict[str, Any]) -> None:
    res = gk.evaluate(f)
    if res.decision == "allowed":
        global_bounds_hold(res)
        clinical_caps_hold(f, res)
    else:
        assert res.envelope == EMPTY


# ------------------------------------------------------------------------------- (c) monotone
def _lower(v: Any, lo: float) -> st.SearchStrategy[Any]:
    x = _n(v)
    return st.floats(lo, x) if x is not None and x >= lo else st.floats(lo, lo + 100)


def _higher(v: Any, hi: float) -> st.SearchStrategy[Any]:
    x = _n(v)
    return st.floats(x, hi) if x is not None and x <= hi else st.floats(hi - 100, hi)


LOWER_IS_WORSE = {
    "platelets_10e9_l": 0,
    "hemoglobin_g_dl": 2,
    "anc_10e9_l": 0,
    "spo2": 50,
    "lvef_pct": 10,
    "next_infusion_in_days": 0,
    "recent_surgery_days": 0,
}
# The tolerated record (2026.12.3): less of it is worse; unknown is no record (as tight as 0),
# so from unknown nothing is worse.
RECORD_FACTS = ("aerobic_tolerated_weekly_minutes_28d", "resistance_tolerated_pct_1rm_28d")
# Completion and (lymphedema) the tolerated share of resistance sessions: lower is worse, and an
# unknown one already holds the modality (2026.12.4, 2026.12.5), so from unknown nothing is worse.
HELD_WHEN_UNKNOWN = (
    "aerobic_completion_rate_14d",
    "resistance_completion_rate_14d",
    "resistance_tolerated_rate_14d",
)
# The last 7 days' scores (2026.12.3): more sessions scored 8+ is worse; the mean is only read as
# "the last 7 days scored it", so losing it (unknown) is worse.
RECENT_SEVERE = ("fatigue_8plus_7d", "pain_8plus_7d")
RECENT_SCORED = ("fatigue_mean_7d", "pain_mean_7d")
HIGHER_IS_WORSE = {
    "temperature_c": 45,
    "resting_hr": 250,
    "systolic_bp": 300,
    "diastolic_bp": 200,
    "pain": 10,
    "fatigue": 10,
}
# Unknown is already as bad as the worst band that allows exercise (in the chemo window; vitals,
# symptom scores, surgery anywhere: 2026.12.2), so from unknown only a value in that band or one
# that holds or refers is worse: (lowest, highest) such value.
HOLD_RANGE = {
    "platelets_10e9_l": (0, 19.99),
    "hemoglobin_g_dl": (2, 7.99),
    "anc_10e9_l": (0, 0.49),
    "spo2": (50, 87.99),
    "temperature_c": (38, 45),
    "resting_hr": (100, 250),
    # unknown fatigue / pain is the symptomatic-day band unless the last 7 days scored it
    # (2026.12.3), and with bone metastases unknown pain is also the unassessed band (7+ refers)
    "pain": (8, 10),
    "fatigue": (8, 10),
    "recent_surgery_days": (0, 83.99),
    "next_infusion_in_days": (0, 0.99),  # unknown reads as the infusion day
}
COUNTS = ("serious_ae_7d", "moderate_ae_7d", "intolerant_streak")
PER_MODALITY_COUNTS = {
    f"{m}_{name}": name for m in ("aerobic", "resistance") for name in COUNTS[1:]
}
RISK_STEPS = (  # (g): adding a risk fact
    "metastatic_sites",
    "comorbidities",
    "neurological_symptoms",
    "cardiotoxic_therapy",
    "pain",
    "fatigue",
    "vomiting_24h",
    "recent_surgery_days",
    "next_infusion_in_days",
    "lvef_pct",
    "bone_fracture_risk",
)
WORSENING_STEPS = st.sampled_from(
    sorted(
        {
            *LOWER_IS_WORSE,
            *HIGHER_IS_WORSE,
            *RISK_STEPS,
            *COUNTS,
            *PER_MODALITY_COUNTS,
            *RECORD_FACTS,
            *HELD_WHEN_UNKNOWN,
            "resistance_moderate_ae_14d",
            *RECENT_SEVERE,
            *RECENT_SCORED,
            "ecog",
            "medical_clearance",
            "resistance_experience",
            "sarcopenia",
            "days_since_infusion",
            "glucose_mg_dl",
        }
    )
)
RISK_FACT_STEPS = st.sampled_from(RISK_STEPS)
RISK_ORDER = {"low": 0, "moderate": 1, None: 1, "high": 2}  # unknown risk is read as moderate
STEPS_1_3 = st.integers(1, 3)
NEW_SITE = st.sampled_from(METASTATIC_SITES)
NEW_COMORBIDITY = st.sampled_from(COMORBIDITIES)


def _glucose_worse(v: Any) -> st.SearchStrategy[Any]:
    """Farther from the 70-300 mg/dL range (anything, from inside it or from unknown)."""
    x = _n(v)
    if x is None or 70 <= x <= 300:
        return st.floats(20, 800)
    return st.floats(20, x) if x < 70 else st.floats(x, 800)


@st.composite
def worsened(
    draw: st.DrawFn, f: dict[str, Any], steps: st.SearchStrategy[str] = WORSENING_STEPS
) -> dict[str, Any]:
    """The same patient, 1-3 steps worse: a lab lower, a vital worse, a symptom, a higher ECOG, a
    new metastatic site or comorbidity, clearance withdrawn, more AEs or intolerance (overall or in
    one modality), lower completion, less resistance experience, sarcopenia found, closer to an
    infusion, a recent surgery, cardiotoxic therapy, a lower LVEF, a higher fracture risk, or a
    glucose further out of range."""
    g = dict(f)
    for _ in range(draw(STEPS_1_3)):
        step = draw(steps)
        v = g.get(step)
        if step in RECORD_FACTS or step in HELD_WHEN_UNKNOWN:
            if _n(v) is not None:
                g[step] = draw(st.floats(0, max(_n(v), 0.0)))
        elif step == "resistance_moderate_ae_14d":  # unknown already holds lymphedema's resistance
            if _n(v) is not None:
                g[step] = int(_n(v)) + draw(st.integers(1, 3))
        elif step in RECENT_SEVERE:
            if _n(v) is not None:  # unknown is already read as "not scored" (the band)
                g[step] = int(_n(v)) + draw(st.integers(1, 3))
        elif step in RECENT_SCORED:
            g[step] = None
        elif step in HOLD_RANGE and _n(v) is None:
            g[step] = draw(st.floats(*HOLD_RANGE[step]))
        elif step in LOWER_IS_WORSE:
            g[step] = draw(_lower(v, LOWER_IS_WORSE[step]))
        elif step in HIGHER_IS_WORSE:
            g[step] = draw(_higher(v, HIGHER_IS_WORSE[step]))
        elif step in PER_MODALITY_COUNTS:
            # unknown reads as the all-session count, so worse is more than that
            base = _n(v) if _n(v) is not None else _n(g.get(PER_MODALITY_COUNTS[step]))
            g[step] = int(base or 0) + draw(st.integers(1, 3))
        elif step in ("neurological_symptoms", "cardiotoxic_therapy"):
            g[step] = True
        elif step == "bone_fracture_risk":
            g[step] = draw(
                st.sampled_from(
                    [r for r in (*BONE_FRACTURE_RISKS, None) if RISK_ORDER[r] >= RISK_ORDER[v]]
                )
            )
        elif step == "glucose_mg_dl":
            g[step] = draw(_glucose_worse(v))
        elif step == "vomiting_24h":
            g[step] = True
        elif step == "ecog":
            if _n(v) is not None:
                g[step] = draw(st.integers(int(v), 4))
        elif step in ("metastatic_sites", "comorbidities"):
            new = draw(NEW_SITE if step == "metastatic_sites" else NEW_COMORBIDITY)
            g[step] = LIST_SEPARATOR.join(sorted(_items(v) | {new}))
        elif step == "medical_clearance":
            g[step] = draw(st.sampled_from([False, None]))
        elif step in COUNTS:
            g[step] = int(_n(v) or 0) + draw(st.integers(1, 3))
        elif step == "resistance_experience":
            if v == "experienced":
                g[step] = draw(st.sampled_from(["novice", "none", None]))
        elif step == "sarcopenia":
            g[step] = draw(st.sampled_from([True, None])) if v is not True else True
        elif step == "days_since_infusion" and _n(v) is not None:
            g[step] = draw(st.floats(0, _n(v)))
    return g


def assert_no_looser(after: gk.KernelResult, before: gk.KernelResult) -> None:
    assert RANK[after.decision] >= RANK[before.decision], (before.decision, after.decision)
    if after.decision == before.decision == "allowed":
        assert no_looser(after.envelope, before.envelope), (before.envelope, after.envelope)
        assert set(after.restrictions) >= set(before.restrictions)


def _counterexample_stop_8() -> tuple[dict[str, Any], dict[str, Any]]:
    """The counterexample found at stop 8 (issue #11): lymphedema, experienced, post-treatment,
    a current aerobic dose and a resistance dose of 0 sessions at 20-25% 1RM. Before: the lymphedema
    5% step left no room above the 30% floor -> conflict.resistance_infeasible -> no_resistance.
    After a moderate AE: no progression closed resistance (0 sessions) first, the conflict rule
    stayed quiet and the response lost `no_resistance` although the envelope was closed."""
    rx = Prescription(
        aerobic=AerobicDose(
            sessions_per_week=3,
            minutes_per_session=30,
            intensity_pct_hrmax=Range(low=64, high=68),
            rpe=IntRange(low=12, high=13),
        ),
        resistance=ResistanceDose(
            sessions_per_week=0,
            sets=2,
            reps=IntRange(low=10, high=12),
            intensity_pct_1rm=Range(low=20, high=25),
        ),
    )
    f = {"patient_id": "pt-prop"} | ARCHETYPES[0] | {"comorbidities": "lymphedema"}
    f |= prescription_to_row(rx)
    return f, f | {"moderate_ae_7d": 1}


WORSENED_PAIRS = patients_facts().flatmap(lambda f: worsened(f).map(lambda g: (f, g)))


@PROPERTY
@given(WORSENED_PAIRS)
@example(_counterexample_stop_8())
def test_c_worsening_never_loosens(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Monotonicity: see the module docstring for the precise meaning of "tighter"."""
    f, g = pair
    assert_no_looser(gk.evaluate(g), gk.evaluate(f))


RISK_PAIRS = patients_facts().flatmap(lambda f: worsened(f, RISK_FACT_STEPS).map(lambda g: (f, g)))


@PROPERTY
@given(RISK_PAIRS)
def test_g_adding_a_risk_fact_never_loosens(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """(g) Issue #11: a new metastatic site, comorbidity or symptom (pain, fatigue, neurological
    signs, vomiting), cardiotoxic therapy, a recent surgery, an infusion coming up, a lower LVEF or
    a higher fracture risk never loosens the decision, the envelope or the restrictions."""
    f, g = pair
    before, after = gk.evaluate(f), gk.evaluate(g)
    assert_no_looser(after, before)
    if after.decision == before.decision == "allowed":
        given = {k for k in g if _unknown(f.get(k)) and not _unknown(g[k])}
        assert set(after.unknown_facts) >= set(before.unknown_facts) - given


@PROPERTY
@given(patients_facts())
def test_h_closed_modality_iff_label(f: dict[str, Any]) -> None:
    """(h) Issue #11 item 4: `no_aerobic` / `no_resistance` exactly when the final envelope closes
    the modality, `no_vigorous` exactly when no vigorous dose of either modality fits, whichever
    rule closed it; a labelled patient's envelope obeys the label's meaning."""
    res = gk.evaluate(f)
    if res.decision != "allowed":
        assert res.restrictions == () and res.envelope == EMPTY
        return
    labels_follow_the_envelope(res)
    assert gk.closure_labels(res.envelope) == set(res.restrictions) & set(gk.CLOSURE_LABELS)


# ------------------------------------------------------------------------------- (f) unknown
WINDOW_VALUES: dict[str, st.SearchStrategy[float]] = {  # mostly values that allow exercise
    "platelets_10e9_l": st.one_of(near(0, 2000, 20, 50), st.floats(20, 80), st.floats(20, 80)),
    "anc_10e9_l": st.one_of(near(0, 100, 0.5, 1.5), st.floats(0.5, 3), st.floats(0.5, 3)),
    "hemoglobin_g_dl": st.one_of(near(2, 25, 8, 9, 10), st.floats(8, 12)),
    "temperature_c": st.one_of(near(30, 45, 38), st.floats(35, 37.99)),
    "spo2": st.one_of(near(50, 100, 88, 95), st.floats(88, 100)),
    "days_since_infusion": st.one_of(near(0, 60, 0, 1, 5, 21), st.integers(0, 30).map(float)),
    "resting_hr": st.one_of(near(25, 250, 100, 120), st.floats(40, 119.9)),
    "next_infusion_in_days": st.one_of(near(0, 60, 0, 1, 2, 21), st.integers(0, 30).map(float)),
}
WINDOW_HOW = st.sampled_from(["chemotherapy", "days", "next"])
MISSING = st.sampled_from([None, NAN])


def in_window(f: dict[str, Any], fact: str, how: str, data: st.DataObject) -> dict[str, Any]:
    """`f` placed in the chemotherapy window, by a way that does not depend on `fact` (and, for
    the next infusion, in a phase where one may be planned: not after treatment)."""
    if how == "days" and fact == "days_since_infusion":
        how = "next"
    if fact == "next_infusion_in_days":
        how = "days" if how == "next" else how
        if f.get("treatment_phase") in ENDED:
            f = f | {"treatment_phase": "chemotherapy"}
    if how == "chemotherapy":
        return f | {"treatment_phase": "chemotherapy"}
    if how == "days":
        return f | {"days_since_infusion": data.draw(near(0, 21, 0, 1, 5, 21))}
    return f | {"next_infusion_in_days": data.draw(near(0, 21, 0, 1, 2, 21))}


@PROPERTY
@given(patients_facts(), st.sampled_from(WINDOW_FACTS), WINDOW_HOW, MISSING, st.data())
def test_f_unknown_is_never_looser_than_known_bad_in_the_chemo_window(
    f: dict[str, Any], fact: str, how: str, missing: Any, data: st.DataObject
) -> None:
    """(f) Issue #11 item 1: in the chemotherapy window, with one of platelets, ANC, hemoglobin,
    temperature, SpO2 or the infusion date missing, the result is no looser than with ANY in-range
    value of it that still allows exercise (decision, envelope and restrictions), and the missing
    fact is named in `unknown_facts` (temperature: when ANC is low or unknown)."""
    f = in_window(f, fact, how, data)
    value = data.draw(WINDOW_VALUES[fact])
    unknown, known = gk.evaluate(f | {fact: missing}), gk.evaluate(f | {fact: value})
    if known.decision == "allowed":
        assert_no_looser(unknown, known)
    if unknown.decision == "allowed":
        anc = _n(f.get("anc_10e9_l"))
        if fact != "temperature_c" or anc is None or anc < 1.5:
            assert fact in unknown.unknown_facts
        assert fact not in known.unknown_facts


# Every contract fact that may be left blank, with values over its whole range (crowded at the
# thresholds). Blood counts and the infusion dates are left to (f): outside the chemotherapy
# window a count is not routinely drawn and after treatment no infusion is planned, so a blank
# there is just unknown (rules.yaml, UNKNOWN FACTS). Fatigue and pain are NOT here: a blank score
# is still looser than 8/10, an open gap (rules.yaml, UNKNOWN FACTS; SAFETY.md, Known gaps).
ANYWHERE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "resting_hr": near(25, 250, 100, 120),
    "systolic_bp": near(50, 300, 160, 200),
    "diastolic_bp": near(20, 200, 100, 110),
    "spo2": near(50, 100, 88, 95),
    "temperature_c": near(30, 45, 38),
    "glucose_mg_dl": near(20, 800, 70, 250, 300),
    "vomiting_24h": st.booleans(),
    "sarcopenia": st.booleans(),
    "recent_surgery_days": st.one_of(near(0, 400, 42, 84), st.integers(0, 400).map(float)),
    "cardiotoxic_therapy": st.booleans(),
    "lvef_pct": near(10, 80, 40, 50, 53),
    "neurological_symptoms": st.booleans(),
    "bone_fracture_risk": st.sampled_from(BONE_FRACTURE_RISKS),
    "aerobic_tolerated_weekly_minutes_28d": near(0, 2000, 90, 99),
    "resistance_tolerated_pct_1rm_28d": near(0, 100, 50, 70),
}


@PROPERTY
@given(patients_facts(), st.sampled_from(sorted(ANYWHERE_VALUES)), MISSING, st.data())
def test_i_unknown_is_never_looser_than_any_known_value_anywhere(
    f: dict[str, Any], fact: str, missing: Any, data: st.DataObject
) -> None:
    """(i) 2026.12.2, the brief's "a missing fact never makes a dose looser than a bad one", on
    or off treatment: with a vital, vomiting, glucose, sarcopenia, recent surgery, cardiotoxic
    therapy, LVEF, neurological symptoms, the fracture risk or the tolerated record (2026.12.3)
    missing, the result is no looser than with ANY value of it that still allows exercise
    (decision, envelope, restrictions)."""
    value = data.draw(ANYWHERE_VALUES[fact])
    unknown, known = gk.evaluate(f | {fact: missing}), gk.evaluate(f | {fact: value})
    if known.decision == "allowed":
        assert_no_looser(unknown, known)


SYMPTOM_HISTORY = {"fatigue": ("fatigue_mean_7d", "fatigue_8plus_7d"),
                   "pain": ("pain_mean_7d", "pain_8plus_7d")}  # fmt: skip


@PROPERTY
@given(patients_facts(), st.sampled_from(sorted(SYMPTOM_HISTORY)), MISSING, st.data())
def test_j_an_unscored_symptom_reads_the_last_7_days_or_the_worst_band(
    f: dict[str, Any], fact: str, missing: Any, data: st.DataObject
) -> None:
    """(j) 2026.12.3, the open gap of session 11: a fatigue or pain score missing at the visit.
    With no score in the last 7 days' sessions (either fact unknown), the result is no looser
    than with ANY known score that still allows exercise; with a session scored 8+ there, no
    looser than a visit score of 8; with scores all under 8, exactly as without the visit
    score being bad (no looser than a visit score of 7)."""
    mean, severe = SYMPTOM_HISTORY[fact]
    unknown = gk.evaluate(f | {fact: missing})
    recent_known = _n(f.get(mean)) is not None and _n(f.get(severe)) is not None
    if not recent_known:
        value = data.draw(st.floats(0, 10))
    elif _n(f.get(severe)) >= 1:
        value = 8.0
    else:
        value = data.draw(st.floats(0, 7))
    known = gk.evaluate(f | {fact: value})
    if known.decision == "allowed":
        assert_no_looser(unknown, known)


@PROPERTY
@given(patients_facts(), st.fixed_dictionaries(LOGGED_VALUES))
def test_k_a_logged_dose_only_tightens(f: dict[str, Any], logged: dict[str, Any]) -> None:
    """(k) 2026.12.7: the dose the session log planned in the last 28 days never loosens
    anything. With it the result is no looser than with no log at all (which is what the kernel
    read before 2026.12.7, when a request without a current prescription left every "at most
    the current dose" rule silent); and where the current prescription states both modalities
    the log changes nothing."""
    with_log = gk.evaluate(f | logged)
    without = gk.evaluate(f | dict.fromkeys(logged))
    assert_no_looser(with_log, without)
    stated = [m for m in STATED if any(_n(f.get(k)) is not None for k in STATED[m])]
    if len(stated) == 2:
        assert with_log.decision == without.decision
        assert with_log.envelope == without.envelope
        assert set(with_log.restrictions) == set(without.restrictions)


FAVOURABLE = {
    "platelets_10e9_l": 2000.0,
    "hemoglobin_g_dl": 25.0,
    "anc_10e9_l": 100.0,
    "spo2": 100.0,
    "temperature_c": 36.5,
    "resting_hr": 60.0,
    "systolic_bp": 110.0,
    "diastolic_bp": 70.0,
    "vomiting_24h": False,
    "ecog": 0,
    "medical_clearance": True,
    "sarcopenia": False,
    "resistance_experience": "experienced",
    "serious_ae_7d": 0,
    "moderate_ae_7d": 0,
    "intolerant_streak": 0,
    "metastatic_sites": "",
    "comorbidities": "",
    "days_since_infusion": 60.0,
    "next_infusion_in_days": 60.0,
    "recent_surgery_days": 400.0,
    "cardiotoxic_therapy": False,
    "lvef_pct": 65.0,
    "neurological_symptoms": False,
    "bone_fracture_risk": "low",
    "glucose_mg_dl": 100.0,
    "aerobic_intolerant_streak": 0,
    "resistance_intolerant_streak": 0,
    "aerobic_moderate_ae_7d": 0,
    "resistance_moderate_ae_7d": 0,
    "aerobic_completion_rate_14d": 1.0,
    "resistance_completion_rate_14d": 1.0,
    "aerobic_tolerated_weekly_minutes_28d": 2000.0,
    "resistance_tolerated_pct_1rm_28d": 100.0,
    "fatigue_mean_7d": 0.0,
    "pain_mean_7d": 0.0,
    "fatigue_8plus_7d": 0,
    "pain_8plus_7d": 0,
}


@PROPERTY
@given(patients_facts(), st.sampled_from(sorted(FAVOURABLE)), st.sampled_from([None, NAN]))
def test_c_an_unknown_value_is_never_looser_than_the_best_known_one(
    f: dict[str, Any], name: str, missing: Any
) -> None:
    """A missing value never loosens anything: unknown is at least as tight as the most
    favourable value that fact could have."""
    assert_no_looser(gk.evaluate(f | {name: missing}), gk.evaluate(f | {name: FAVOURABLE[name]}))


# ------------------------------------------------------------------------------- (d) clamp
@PROPERTY
@given(patients_facts(), st.one_of(st.none(), prescriptions()))
def test_d_clamped_prescriptions_always_pass_the_check(
    f: dict[str, Any], rx: Prescription | None
) -> None:
    res = gk.evaluate(f)
    clamped = gk.clamp_prescription(rx, res)
    assert gk.check_prescription(clamped, res) == []
    assert inside(clamped, res)
    if res.decision != "allowed":
        assert clamped is None
    if clamped is not None:
        assert set(rx.restrictions) <= set(clamped.restrictions)  # never drops a restriction
        assert gk.clamp_prescription(clamped, res) == clamped  # idempotent


@PROPERTY
@given(st.data())
def test_d_clamp_leaves_a_safe_prescription_alone(data: st.DataObject) -> None:
    """A prescription already inside the envelope comes back unchanged (restrictions aside)."""
    res = gk.evaluate(data.draw(patients_facts()))
    rx = data.draw(near_envelope(res))
    if res.decision != "allowed" or rx is None or gk.check_prescription(rx, res):
        return  # nothing to show for this draw (not assume(): regenerating costs more)
    clamped = gk.clamp_prescription(rx, res)
    assert clamped is not None
    assert _close(clamped.model_dump(), rx.model_dump() | {"restrictions": clamped.restrictions})
    assert set(clamped.restrictions) == set(rx.restrictions)


def _close(a: Any, b: Any) -> bool:
    """Equal up to the check's float tolerance (a value 1e-12 over a bound is clipped)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


# ------------------------------------------------------------------------------- (e) check
TOL = 1e-9


def _in(x: float, lo: float, hi: float) -> bool:
    return lo - TOL * max(1, abs(lo)) <= x <= hi + (TOL * max(1, abs(hi)) if hi < math.inf else 0)


def inside(rx: Prescription | None, res: gk.KernelResult) -> bool:
    """Oracle for check_prescription, written again from the Envelope's documented meaning."""
    if rx is None:
        return True
    if res.decision != "allowed":
        return rx.aerobic is None and rx.resistance is None
    env = res.envelope
    if not set(res.restrictions) <= set(rx.restrictions):
        return False
    total = 0
    if (a := rx.aerobic) is not None:
        total += a.sessions_per_week
        pct, rpe = a.intensity_pct_hrmax, a.rpe
        volume = a.sessions_per_week * a.minutes_per_session
        modeq = volume * (2 if pct.high >= 77 else 1)
        if not (
            env.aerobic_sessions_max >= 1
            and _in(a.sessions_per_week, 1, env.aerobic_sessions_max)
            and _in(a.minutes_per_session, env.aerobic_minutes_min, env.aerobic_minutes_max)
            and _in(pct.low, env.aerobic_pct_hrmax_min, pct.high)
            and _in(pct.high, pct.low, env.aerobic_pct_hrmax_max)
            and _in(rpe.low, 6, rpe.high)
            and _in(rpe.high, rpe.low, env.aerobic_rpe_max)
            and _in(volume, 0, env.aerobic_weekly_volume_max)
            and _in(modeq, 0, env.weekly_modeq_minutes_max)
        ):
            return False
    if (r := rx.resistance) is not None:
        total += r.sessions_per_week
        pct = r.intensity_pct_1rm
        top = min(env.resistance_pct_1rm_max, env.resistance_pct_1rm_progression_max)
        if not (
            env.resistance_allowed
            and _in(r.sessions_per_week, 1, env.resistance_sessions_max)
            and _in(r.sets, env.resistance_sets_min, env.resistance_sets_max)
            and _in(r.reps.low, env.resistance_reps_min, r.reps.high)
            and _in(r.reps.high, r.reps.low, env.resistance_reps_max)
            and _in(pct.low, env.resistance_pct_1rm_min, pct.high)
            and _in(pct.high, pct.low, top)
        ):
            return False
    return _in(total, 0, env.total_sessions_max)


NUDGE_WHAT = st.integers(0, 8)
NUDGE_FLOAT = st.sampled_from([0.0, 0.0, -1.0, -0.01, 0.01, 1.0, 5.0, -1e6, 1e6])
NUDGE_INT = st.sampled_from([0, 0, -1, 1, 3])


@st.composite
def near_envelope(draw: st.DrawFn, res: gk.KernelResult) -> Prescription | None:
    """A prescription at the edge of the envelope: a clamped one with one value nudged."""
    base = gk.clamp_prescription(draw(prescriptions(wild=False)), res)
    if base is None:
        return draw(st.one_of(st.none(), prescriptions()))
    what = draw(NUDGE_WHAT)
    dx = draw(NUDGE_FLOAT)
    di = draw(NUDGE_INT)

    def d(n: int) -> float:
        return dx if what == n else 0.0

    def i(n: int) -> int:
        return di if what == n else 0

    a, r = base.aerobic, base.resistance
    restrictions = list(base.restrictions)
    if what == 0 and restrictions:
        restrictions.pop(draw(st.integers(0, len(restrictions) - 1)))
    elif what in (1, 2, 3, 4) and a is not None:
        p = a.intensity_pct_hrmax
        a = AerobicDose(
            sessions_per_week=min(14, max(0, a.sessions_per_week + i(1))),
            minutes_per_session=min(180, max(0, a.minutes_per_session + d(2))),
            intensity_pct_hrmax=Range(low=p.low, high=max(p.low, p.high + d(3))),
            rpe=IntRange(low=a.rpe.low, high=max(a.rpe.low, a.rpe.high + i(4))),
        )
    elif what in (5, 6, 7, 8) and r is not None:
        p = r.intensity_pct_1rm
        high = p.high + d(8)
        r = ResistanceDose(
            sessions_per_week=min(14, max(0, r.sessions_per_week + i(5))),
            sets=min(10, max(0, r.sets + i(6))),
            reps=IntRange(low=r.reps.low, high=max(r.reps.low, r.reps.high + i(7))),
            intensity_pct_1rm=Range(low=min(p.low, high), high=high),
        )
    return Prescription(aerobic=a, resistance=r, restrictions=restrictions)


@PROPERTY
@given(st.data())
def test_e_check_flags_exactly_the_prescriptions_outside(data: st.DataObject) -> None:
    f = data.draw(patients_facts())
    res = gk.evaluate(f)
    rx = data.draw(st.one_of(near_envelope(res), prescriptions()))
    problems = gk.check_prescription(rx, res)
    assert (problems == []) == inside(rx, res), problems


STOP_CONDITIONS = st.sampled_from(
    [
        {"platelets_10e9_l": 5.0},
        {"hemoglobin_g_dl": 6.5},
        {"anc_10e9_l": 0.2},
        {"temperature_c": 39.0},
        {"resting_hr": 130.0},
        {"systolic_bp": 220.0},
        {"diastolic_bp": 120.0},
        {"spo2": 80.0},
        {"vomiting_24h": True},
        {"serious_ae_7d": 2},
        {"ecog": 3},
        {"ecog": 4},
        {"metastatic_sites": "bone", "medical_clearance": False},
        {"metastatic_sites": "brain", "medical_clearance": None},
        {"hemoglobin_g_dl": 8.9, "comorbidities": "cardiovascular_disease"},
        {"glucose_mg_dl": 45.0},
        {"metastatic_sites": "bone", "medical_clearance": True, "neurological_symptoms": True},
        {"metastatic_sites": "bone", "medical_clearance": True, "bone_fracture_risk": "high"},
        {"lvef_pct": 30.0, "medical_clearance": False},
        {"recent_surgery_days": 7, "medical_clearance": False},
    ]
)


@PROPERTY
@given(patients_facts(), STOP_CONDITIONS, prescriptions())
def test_e_any_dose_under_hold_or_refer_is_a_violation(
    f: dict[str, Any], stop: dict[str, Any], rx: Prescription
) -> None:
    res = gk.evaluate(f | stop)
    assert res.decision in ("hold", "refer")
    problems = gk.check_prescription(rx, res)
    assert bool(problems) == (rx.aerobic is not None or rx.resistance is not None)
    assert gk.clamp_prescription(rx, res) is None
