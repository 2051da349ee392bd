"""The contract's tables (pandera), derived from the REST fields so each bound is written once.

Tables mirror the REST objects with nested objects flattened (``vitals.resting_hr`` ->
``resting_hr``) and lists joined with ``;`` (``metastatic_sites = "bone;liver"``), so that the same
cohort reads from parquet, CSV and Spark. A column's type, bounds and nullability come from its
pydantic field (`features.contract.rest`): a required field is a non-null column, an optional one
(default None) a nullable column, a `Literal` an `isin` check, `ge`/`le` the same bounds.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import pandas as pd
import pandera.pandas as pa
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from features.contract.rest import Fitness, Labs, Patient, Session, Symptoms, Vitals
from features.contract.vocab import (
    COMORBIDITIES,
    LIST_SEPARATOR,
    METASTATIC_SITES,
    PATIENT_ID_PATTERN,
)

# Flat column names of the patients table, in order, each mapped to its REST path. These are also
# model features (features.profile); the additive optional `labs.glucose_mg_dl` is flattened the
# same way (patient_to_row) but is an OPTIONAL_PATIENT_COLUMNS entry, read by the kernel only.
PATIENT_NESTED: dict[str, tuple[str, ...]] = {
    "vitals": ("resting_hr", "systolic_bp", "diastolic_bp", "spo2", "temperature_c"),
    "labs": ("hemoglobin_g_dl", "platelets_10e9_l", "anc_10e9_l"),
    "symptoms": ("fatigue", "pain", "vomiting_24h"),
    "fitness": ("vo2peak_ml_kg_min", "six_minute_walk_m", "grip_strength_kg"),
}
_NESTED_MODELS: dict[str, type[BaseModel]] = {
    "vitals": Vitals,
    "labs": Labs,
    "symptoms": Symptoms,
    "fitness": Fitness,
}
PATIENT_LIST_FIELDS = ("metastatic_sites", "comorbidities")
# Additive optional patient fields (contract 2026-11-30): a table may lack these columns altogether
# (then: unknown for every patient). Read by the guideline kernel, not by the models.
ADDITIVE_PATIENT_FIELDS: dict[str, type[BaseModel]] = {
    "next_infusion_in_days": Patient,
    "recent_surgery_days": Patient,
    "cardiotoxic_therapy": Patient,
    "lvef_pct": Patient,
    "neurological_symptoms": Patient,
    "bone_fracture_risk": Patient,
    "glucose_mg_dl": Labs,
}

# Current prescription, flattened into optional patients-table columns (batch scoring needs it):
# column -> attribute path in `Prescription`, plus the restrictions joined with `;`.
RX_FIELDS: dict[str, str] = {
    "rx_aerobic_sessions": "aerobic.sessions_per_week",
    "rx_aerobic_minutes": "aerobic.minutes_per_session",
    "rx_aerobic_pct_hrmax_low": "aerobic.intensity_pct_hrmax.low",
    "rx_aerobic_pct_hrmax_high": "aerobic.intensity_pct_hrmax.high",
    "rx_aerobic_rpe_low": "aerobic.rpe.low",
    "rx_aerobic_rpe_high": "aerobic.rpe.high",
    "rx_resistance_sessions": "resistance.sessions_per_week",
    "rx_resistance_sets": "resistance.sets",
    "rx_resistance_reps_low": "resistance.reps.low",
    "rx_resistance_reps_high": "resistance.reps.high",
    "rx_resistance_pct_1rm_low": "resistance.intensity_pct_1rm.low",
    "rx_resistance_pct_1rm_high": "resistance.intensity_pct_1rm.high",
}
RX_COLUMNS: tuple[str, ...] = (*RX_FIELDS, "rx_restrictions")


def _in_list_vocab(vocab: tuple[str, ...]) -> pa.Check:
    allowed = set(vocab)

    def check(series: pd.Series) -> pd.Series:
        return series.fillna("").map(
            lambda s: all(x in allowed for x in str(s).split(LIST_SEPARATOR) if x)
        )

    return pa.Check(check, element_wise=False, error=f"items must be among {sorted(allowed)}")


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    """The field's `ge` / `le` (pydantic keeps them as annotated_types metadata)."""
    lo = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
    hi = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
    return lo, hi


def _base_type(annotation: Any) -> Any:
    """`X | None` -> X."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def column_of(model: type[BaseModel], name: str) -> pa.Column:
    """The table column of one scalar REST field: same type, bounds and nullability."""
    info = model.model_fields[name]
    base = _base_type(info.annotation)
    optional = not info.is_required() and info.default is None
    if get_origin(base) is Literal:
        return pa.Column(str, pa.Check.isin(get_args(base)), nullable=optional, coerce=True)
    if base is bool:
        return pa.Column("boolean" if optional else bool, coerce=True, nullable=optional)
    lo, hi = _bounds(info)
    checks = ([pa.Check.ge(lo)] if lo is not None else []) + (
        [pa.Check.le(hi)] if hi is not None else []
    )
    return pa.Column(float, checks=checks, nullable=optional, coerce=True)


def _optional(col: pa.Column) -> pa.Column:
    """The same column, which a table may lack altogether."""
    return pa.Column(**{**col.properties, "required": False})


def _id_column() -> pa.Column:
    return pa.Column(str, pa.Check.str_matches(PATIENT_ID_PATTERN), coerce=True)


def _patient_columns() -> dict[str, pa.Column]:
    cols: dict[str, pa.Column] = {
        "patient_id": _id_column(),
        "as_of": pa.Column("datetime64[ns]", coerce=True),
    }
    for name in Patient.model_fields:
        if name == "patient_id" or name in ADDITIVE_PATIENT_FIELDS:
            continue
        if name in PATIENT_NESTED:
            cols |= {c: column_of(_NESTED_MODELS[name], c) for c in PATIENT_NESTED[name]}
        elif name in PATIENT_LIST_FIELDS:
            vocab = METASTATIC_SITES if name == "metastatic_sites" else COMORBIDITIES
            cols[name] = pa.Column(str, _in_list_vocab(vocab), coerce=True, nullable=True)
        else:
            cols[name] = column_of(Patient, name)
    return cols


_OPTIONAL_PATIENT_COLUMNS = {
    name: _optional(column_of(model, name)) for name, model in ADDITIVE_PATIENT_FIELDS.items()
}

PATIENTS_SCHEMA = pa.DataFrameSchema(
    {**_patient_columns(), **_OPTIONAL_PATIENT_COLUMNS},
    strict=False,  # extra columns (rx_*, ref_*, simulator truth columns true_*) are allowed
    name="patients",
)

SESSIONS_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": _id_column(),
        "date": pa.Column("datetime64[ns]", coerce=True),
        **{name: column_of(Session, name) for name in Session.model_fields if name != "date"},
    },
    strict=False,  # the simulator adds truth columns p_attend, p_tolerate
    name="sessions",
)

# Columns every patients table has (the simulator writes exactly these first) ...
PATIENT_COLUMNS: tuple[str, ...] = tuple(
    c for c in PATIENTS_SCHEMA.columns if c not in _OPTIONAL_PATIENT_COLUMNS
)
# ... and the additive optional ones, which a table may lack (then: unknown for every patient).
OPTIONAL_PATIENT_COLUMNS: tuple[str, ...] = tuple(_OPTIONAL_PATIENT_COLUMNS)
PATIENT_ROW_COLUMNS: tuple[str, ...] = PATIENT_COLUMNS + OPTIONAL_PATIENT_COLUMNS
SESSION_COLUMNS: tuple[str, ...] = tuple(SESSIONS_SCHEMA.columns)


def validate_patients(df: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a patients table; SchemaErrors lists every failure at once."""
    return PATIENTS_SCHEMA.validate(df, lazy=True)


def validate_sessions(df: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a sessions table; SchemaErrors lists every failure at once."""
    return SESSIONS_SCHEMA.validate(df, lazy=True)


# pandera check names -> words, for error messages (batch errors file, `dosewise train`)
_CHECK_TEXT = (
    ("coerce_dtype", "cannot be read as {dtype}"),
    ("dtype(", "cannot be read as {dtype}"),
    ("not_nullable", "missing (required)"),
    ("greater_than_or_equal_to", "must be >= {arg}"),
    ("less_than_or_equal_to", "must be <= {arg}"),
    ("isin", "must be one of {arg}"),
    ("str_matches", "must match {arg}"),
    ("column_in_dataframe", "column missing"),
)


def check_words(check: Any) -> str:
    """A pandera check in words ("must be <= 4"); an unknown check as pandera names it."""
    text = str(check)
    arg = text[text.find("(") + 1 : text.rfind(")")] if "(" in text else ""
    dtype = arg.strip("'\"") or "the expected type"
    dtype = {"float64": "a number", "bool": "true/false", "boolean": "true/false"}.get(dtype, dtype)
    for key, template in _CHECK_TEXT:
        if text.startswith(key):
            return template.format(arg=arg, dtype=dtype)
    return text
