"""How the kernel reads a patient: the fact types, the normalisation of every value it may meet
(numbers, yes/no words, list text, None / NaN / pandas NA as "not known"), and the facts of one
REST request. The history facts are declared in `features/registry.py` (`kernel=True`)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from features.contract.convert import patient_to_row, prescription_to_row
from features.contract.rest import (
    Patient,
    Prescription,
)
from features.contract.tables import RX_COLUMNS
from features.contract.vocab import (
    BONE_FRACTURE_RISKS,
    CANCER_TYPES,
    COMORBIDITIES,
    LIST_SEPARATOR,
    METASTATIC_SITES,
    RESISTANCE_EXPERIENCE,
    RESTRICTIONS,
    SEXES,
    STAGES,
    TREATMENT_PHASES,
)
from features.registry import KERNEL_HISTORY_FACTS

# History facts the rules read: `features.history` column names (the policy takes them from the
# feature rows). The all-session ones are kept for callers that only know those; the rules use a
# per-modality fact when it is known and fall back to the all-session one when it is not.
# Declared (name, unit, meaning) in features/registry.py with `kernel=True`.
HISTORY_FACTS = KERNEL_HISTORY_FACTS

Facts = dict[str, Any]
Limits = dict[str, float]
Check = Callable[[Facts, set[str], Limits], bool]
Value = Callable[[Facts], float | None]


# The dose a patient is on, per modality, for the progression rules (kernel 2026.12.7): the
# current prescription's when it states that modality, else the dose the session log planned over
# the last 28 days (sessions per week rounded down, at least 1; mean minutes, intensity and sets,
# sets rounded down). Without it every "at most the current dose" rule was silent for a request
# without a current prescription (a REST client that omits it; CDS before it read the EHR's
# orders): two intolerant walks or a moderate adverse event were then followed by the generic
# starting dose, looser than with any current dose.
# dose fact -> (the current-prescription fact, the logged history fact)
LOGGED_DOSE: dict[str, tuple[str, str]] = {
    "dose_aerobic_sessions": ("rx_aerobic_sessions", "aerobic_sessions_per_week_28d"),
    "dose_aerobic_minutes": ("rx_aerobic_minutes", "aerobic_minutes_mean_28d"),
    "dose_aerobic_pct_hrmax_high": ("rx_aerobic_pct_hrmax_high", "aerobic_pct_hrmax_mean_28d"),
    "dose_resistance_sessions": ("rx_resistance_sessions", "resistance_sessions_per_week_28d"),
    "dose_resistance_sets": ("rx_resistance_sets", "resistance_sets_mean_28d"),
    "dose_resistance_pct_1rm_high": ("rx_resistance_pct_1rm_high", "resistance_pct_1rm_mean_28d"),
}
DOSE_FACTS = frozenset({*LOGGED_DOSE, "dose_aerobic_volume"})  # derived: `dose_facts`
DOSE_LOGGED = "dose_logged"  # the modalities whose dose the log stood in for (not a rule fact)
# what the dose facts are made of (read whenever a rule set is compiled)
DOSE_SOURCES = tuple(sorted({name for pair in LOGGED_DOSE.values() for name in pair}))


NUMBER_FIELDS = frozenset(
    {
        "age",
        "height_cm",
        "weight_kg",
        "days_since_infusion",
        "ecog",
        "resting_hr",
        "systolic_bp",
        "diastolic_bp",
        "spo2",
        "temperature_c",
        "hemoglobin_g_dl",
        "platelets_10e9_l",
        "anc_10e9_l",
        "fatigue",
        "pain",
        "vo2peak_ml_kg_min",
        "six_minute_walk_m",
        "grip_strength_kg",
        "next_infusion_in_days",
        "recent_surgery_days",
        "lvef_pct",
        "glucose_mg_dl",
        *HISTORY_FACTS,
        *(c for c in RX_COLUMNS if c != "rx_restrictions"),
        "rx_aerobic_volume",  # derived: current aerobic minutes x sessions
        *DOSE_FACTS,
    }
)
BOOL_FIELDS = frozenset(
    {
        "medical_clearance",
        "sarcopenia",
        "vomiting_24h",
        "cardiotoxic_therapy",
        "neurological_symptoms",
    }
)
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "sex": SEXES,
    "cancer_type": CANCER_TYPES,
    "stage": STAGES,
    "treatment_phase": TREATMENT_PHASES,
    "resistance_experience": RESISTANCE_EXPERIENCE,
    "bone_fracture_risk": BONE_FRACTURE_RISKS,
}
LIST_FIELDS: dict[str, tuple[str, ...]] = {
    "metastatic_sites": METASTATIC_SITES,
    "comorbidities": COMORBIDITIES,
    "rx_restrictions": RESTRICTIONS,
    "restrictions": RESTRICTIONS,  # derived, live: imposed by the rules above the one reading it
}
DERIVED_FACTS = frozenset({"rx_aerobic_volume", "restrictions", *DOSE_FACTS})


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas NA, arrays
        return True


def to_number(value: Any) -> float | None:
    if type(value) is float:  # the common case first (a batch row's numbers): same result
        return None if value != value else value
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out


def _positive(x: float | None) -> bool:
    return x is not None and x > 0


def dose_facts(f: Facts) -> None:
    """Set the `dose_*` facts of `f` (normalised facts with the `DOSE_SOURCES`), per modality:
    the current prescription's values when it states any of them (exactly as before 2026.12.7,
    blanks included), else the log's when the log has that modality with its minutes (aerobic)
    or load (resistance), else unknown. So a request that states a dose reads what it read
    before, and one that states none can only be held tighter than before, never looser."""
    f[DOSE_LOGGED] = ()
    for modality, size in (("aerobic", "minutes"), ("resistance", "pct_1rm_high")):
        names = [d for d in LOGGED_DOSE if d.startswith(f"dose_{modality}_")]
        rx = {d: f.get(LOGGED_DOSE[d][0]) for d in names}
        logged = {d: f.get(LOGGED_DOSE[d][1]) for d in names}
        n, amount = f"dose_{modality}_sessions", f"dose_{modality}_{size}"
        if any(v is not None for v in rx.values()):
            f.update(rx)
        elif _positive(logged[n]) and _positive(logged[amount]):
            f.update(logged)
            f[DOSE_LOGGED] += (modality,)
            f[n] = float(max(1, math.floor(logged[n])))
            sets = f.get("dose_resistance_sets")
            if modality == "resistance" and sets is not None:
                f["dose_resistance_sets"] = float(math.floor(sets))
        else:
            f.update(dict.fromkeys(names))
    s, m = f["dose_aerobic_sessions"], f["dose_aerobic_minutes"]
    f["dose_aerobic_volume"] = None if s is None or m is None else s * m


_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _bool(value: Any) -> bool | None:
    if value is True or value is False:  # the common case first (bool is final: no subclass)
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    num = to_number(value)
    return None if num is None else num != 0


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None if _is_missing(value) else str(value)


def _items(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(x.strip() for x in value.split(LIST_SEPARATOR) if x.strip())
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(x).strip() for x in value if not _is_missing(x))
    return frozenset()


def converter_for(name: str) -> Callable[[Any], Any]:
    if name in NUMBER_FIELDS:
        return to_number
    if name in BOOL_FIELDS:
        return _bool
    if name in TEXT_FIELDS:
        return _text
    return _items


def facts_from_request(
    patient: Patient, current: Prescription | None, history: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The kernel's facts for one REST patient: the patients-table row (same flattening as the
    feature pipeline), the current prescription as rx_* columns, and the history facts
    (`HISTORY_FACTS`, `features.history` names; missing ones are unknown)."""
    facts = patient_to_row(patient, dt.date.today())
    facts.update(prescription_to_row(current))
    history = history or {}
    for name in HISTORY_FACTS:
        facts[name] = history.get(name)
    return facts
