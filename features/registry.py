"""The feature registry: every model feature declared once, with its literal name, type, unit,
meaning, source table and monotone constraint, in the order of the model's columns.

Readers: `features.pipeline.FEATURE_SET` (the models' columns and monotone constraints), the
feature modules (`history`, `candidates`, `profile` compute what is declared here; a test checks
they compute exactly these), the guideline kernel (`KERNEL_HISTORY_FACTS`, the history features
its rules read: part of the safety perimeter, SAFETY.md), and the docs (`features/FEATURES.md`,
written by `python -m features.registry`).

Changing a name, unit or meaning here changes the model's inputs: bump `FEATURE_SET.version` and
retrain. A change of what a feature computes needs its `since` bumped as well;
`tests/data/test_feature_fingerprints.py` fails when a feature's values on a fixed cohort change
and its `since` does not. A `kernel=True` feature is read by the safety rules: see SAFETY.md
before touching it.
"""

# ruff: noqa: E501  (one feature per line reads best as a table)

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Group = Literal["profile", "history", "candidate"]


@dataclass(frozen=True)
class Feature:
    """One model feature. `monotone` is the constraint on both models' outputs as the feature
    grows: -1 never raises P(tolerate) / P(attend), 0 unconstrained."""

    name: str
    group: Group
    unit: str
    description: str
    source: Literal["patients", "sessions", "candidates"]
    monotone: Literal[-1, 0] = 0
    kernel: bool = False  # a history fact the guideline kernel reads
    dtype: str = "float64"  # as the models see it (1/0 flags and ordinals too; NaN is unknown)
    # the FEATURE_SET version that gave the feature its present meaning: a model trained on an
    # older version reads it wrongly and is not served (`stale_columns`)
    since: str = "1.0.0"


# fmt: off
FEATURES: tuple[Feature, ...] = (
    # --- profile -----------------------------------------------------------------------------------
    Feature("age", "profile", "years", "age at the snapshot", "patients", 0),
    Feature("height_cm", "profile", "cm", "height", "patients", 0),
    Feature("weight_kg", "profile", "kg", "body weight", "patients", 0),
    Feature("bmi", "profile", "kg/m2", "body-mass index, weight / height squared", "patients", 0),
    Feature("sex_female", "profile", "1/0", "sex is female", "patients", 0),
    Feature("sex_male", "profile", "1/0", "sex is male", "patients", 0),
    Feature("cancer_breast", "profile", "1/0", "cancer type is breast", "patients", 0),
    Feature("cancer_prostate", "profile", "1/0", "cancer type is prostate", "patients", 0),
    Feature("cancer_colorectal", "profile", "1/0", "cancer type is colorectal", "patients", 0),
    Feature("cancer_lung", "profile", "1/0", "cancer type is lung", "patients", 0),
    Feature("cancer_hematologic", "profile", "1/0", "cancer type is hematologic", "patients", 0),
    Feature("cancer_gynecologic", "profile", "1/0", "cancer type is gynecologic", "patients", 0),
    Feature("cancer_head_neck", "profile", "1/0", "cancer type is head neck", "patients", 0),
    Feature("cancer_other", "profile", "1/0", "cancer type is other", "patients", 0),
    Feature("stage", "profile", "ordinal 1-4", "cancer stage I-IV as 1-4", "patients", 0),
    Feature("n_metastatic_sites", "profile", "count", "number of metastatic sites", "patients", 0),
    Feature("metastatic_bone", "profile", "1/0", "metastatic site: bone", "patients", 0),
    Feature("metastatic_lung", "profile", "1/0", "metastatic site: lung", "patients", 0),
    Feature("metastatic_liver", "profile", "1/0", "metastatic site: liver", "patients", 0),
    Feature("metastatic_brain", "profile", "1/0", "metastatic site: brain", "patients", 0),
    Feature("metastatic_lymph_node", "profile", "1/0", "metastatic site: lymph node", "patients", 0),
    Feature("metastatic_skin", "profile", "1/0", "metastatic site: skin", "patients", 0),
    Feature("metastatic_gi", "profile", "1/0", "metastatic site: gi", "patients", 0),
    Feature("phase_none", "profile", "1/0", "treatment phase is none", "patients", 0),
    Feature("phase_chemotherapy", "profile", "1/0", "treatment phase is chemotherapy", "patients", 0),
    Feature("phase_radiotherapy", "profile", "1/0", "treatment phase is radiotherapy", "patients", 0),
    Feature("phase_immunotherapy", "profile", "1/0", "treatment phase is immunotherapy", "patients", 0),
    Feature("phase_hormone_therapy", "profile", "1/0", "treatment phase is hormone therapy", "patients", 0),
    Feature("phase_targeted_therapy", "profile", "1/0", "treatment phase is targeted therapy", "patients", 0),
    Feature("phase_post_treatment", "profile", "1/0", "treatment phase is post treatment", "patients", 0),
    Feature("phase_palliative", "profile", "1/0", "treatment phase is palliative", "patients", 0),
    Feature("ecog", "profile", "ordinal 0-4", "ECOG performance status", "patients", -1),
    Feature("comorbidity_cardiovascular_disease", "profile", "1/0", "comorbidity: cardiovascular disease", "patients", 0),
    Feature("comorbidity_diabetes", "profile", "1/0", "comorbidity: diabetes", "patients", 0),
    Feature("comorbidity_osteoporosis", "profile", "1/0", "comorbidity: osteoporosis", "patients", 0),
    Feature("comorbidity_peripheral_neuropathy", "profile", "1/0", "comorbidity: peripheral neuropathy", "patients", 0),
    Feature("comorbidity_lymphedema", "profile", "1/0", "comorbidity: lymphedema", "patients", 0),
    Feature("comorbidity_copd", "profile", "1/0", "comorbidity: copd", "patients", 0),
    Feature("comorbidity_arthritis", "profile", "1/0", "comorbidity: arthritis", "patients", 0),
    Feature("comorbidity_ostomy", "profile", "1/0", "comorbidity: ostomy", "patients", 0),
    Feature("n_comorbidities", "profile", "count", "number of listed comorbidities", "patients", 0),
    Feature("medical_clearance", "profile", "1/0", "documented medical clearance for exercise", "patients", 0),
    Feature("resistance_experience", "profile", "ordinal 0-2", "resistance-training experience: none, novice, experienced", "patients", 0),
    Feature("sarcopenia", "profile", "1/0", "sarcopenia (NaN unknown)", "patients", 0),
    Feature("resting_hr", "profile", "bpm", "resting heart rate", "patients", 0),
    Feature("systolic_bp", "profile", "mmHg", "systolic blood pressure", "patients", 0),
    Feature("diastolic_bp", "profile", "mmHg", "diastolic blood pressure", "patients", 0),
    Feature("spo2", "profile", "%", "oxygen saturation", "patients", 0),
    Feature("temperature_c", "profile", "degC", "body temperature", "patients", 0),
    Feature("hemoglobin_g_dl", "profile", "g/dL", "haemoglobin", "patients", 0),
    Feature("platelets_10e9_l", "profile", "10^9/L", "platelet count", "patients", 0),
    Feature("anc_10e9_l", "profile", "10^9/L", "absolute neutrophil count", "patients", 0),
    Feature("fatigue", "profile", "0-10", "fatigue score at the snapshot", "patients", 0),
    Feature("pain", "profile", "0-10", "pain score at the snapshot", "patients", 0),
    Feature("vo2peak_ml_kg_min", "profile", "mL/kg/min", "peak oxygen uptake", "patients", 0),
    Feature("six_minute_walk_m", "profile", "m", "six-minute walk distance", "patients", 0),
    Feature("grip_strength_kg", "profile", "kg", "grip strength", "patients", 0),
    Feature("vomiting_24h", "profile", "1/0", "vomiting in the last 24 h (NaN unknown)", "patients", 0),
    Feature("days_since_infusion", "profile", "days", "days since the last infusion on the prediction day (snapshot value carried forward)", "patients", 0),
    Feature("in_infusion_window", "profile", "1/0", "within 5 days of an infusion (chemotherapy cycle of 21 days)", "patients", 0),
    Feature("cycle_day_sin", "profile", "-1..1", "sine of the chemotherapy cycle day (21-day cycle; NaN off chemotherapy)", "patients", 0),
    Feature("cycle_day_cos", "profile", "-1..1", "cosine of the chemotherapy cycle day (21-day cycle; NaN off chemotherapy)", "patients", 0),
    # --- history -----------------------------------------------------------------------------------
    Feature("n_planned_7d", "history", "sessions", "planned sessions, last 7 days", "sessions", 0),
    Feature("attendance_rate_7d", "history", "ratio", "share of planned sessions attended, last 7 days", "sessions", 0),
    Feature("completion_rate_7d", "history", "ratio", "mean completed / planned (minutes, or sets for resistance; capped at 1.5) of attended sessions, last 7 days", "sessions", 0),
    Feature("tolerated_rate_7d", "history", "ratio", "share of attended sessions tolerated (DESIGN.md section 3 label), last 7 days", "sessions", 0),
    Feature("rpe_mean_7d", "history", "Borg 6-20", "mean RPE of attended sessions, last 7 days", "sessions", 0),
    Feature("rpe_over_target_7d", "history", "RPE points", "mean RPE minus the top of the prescribed band, last 7 days", "sessions", 0),
    Feature("pain_mean_7d", "history", "0-10", "mean in-session pain, last 7 days", "sessions", 0, kernel=True),
    Feature("fatigue_mean_7d", "history", "0-10", "mean in-session fatigue, last 7 days", "sessions", 0, kernel=True),
    Feature("completed_minutes_7d", "history", "min", "minutes completed, last 7 days", "sessions", 0),
    Feature("mild_ae_7d", "history", "count", "mild adverse events, last 7 days", "sessions", 0),
    Feature("moderate_ae_7d", "history", "count", "moderate or serious adverse events, last 7 days", "sessions", 0, kernel=True),
    Feature("serious_ae_7d", "history", "count", "serious adverse events, last 7 days", "sessions", 0, kernel=True),
    Feature("n_planned_14d", "history", "sessions", "planned sessions, last 14 days", "sessions", 0),
    Feature("attendance_rate_14d", "history", "ratio", "share of planned sessions attended, last 14 days", "sessions", 0),
    Feature("completion_rate_14d", "history", "ratio", "mean completed / planned (minutes, or sets for resistance; capped at 1.5) of attended sessions, last 14 days", "sessions", 0),
    Feature("tolerated_rate_14d", "history", "ratio", "share of attended sessions tolerated (DESIGN.md section 3 label), last 14 days", "sessions", 0),
    Feature("rpe_mean_14d", "history", "Borg 6-20", "mean RPE of attended sessions, last 14 days", "sessions", 0),
    Feature("rpe_over_target_14d", "history", "RPE points", "mean RPE minus the top of the prescribed band, last 14 days", "sessions", 0),
    Feature("pain_mean_14d", "history", "0-10", "mean in-session pain, last 14 days", "sessions", 0),
    Feature("fatigue_mean_14d", "history", "0-10", "mean in-session fatigue, last 14 days", "sessions", 0),
    Feature("completed_minutes_14d", "history", "min", "minutes completed, last 14 days", "sessions", 0),
    Feature("mild_ae_14d", "history", "count", "mild adverse events, last 14 days", "sessions", 0),
    Feature("moderate_ae_14d", "history", "count", "moderate or serious adverse events, last 14 days", "sessions", 0),
    Feature("serious_ae_14d", "history", "count", "serious adverse events, last 14 days", "sessions", 0),
    Feature("n_planned_28d", "history", "sessions", "planned sessions, last 28 days", "sessions", 0),
    Feature("attendance_rate_28d", "history", "ratio", "share of planned sessions attended, last 28 days", "sessions", 0),
    Feature("completion_rate_28d", "history", "ratio", "mean completed / planned (minutes, or sets for resistance; capped at 1.5) of attended sessions, last 28 days", "sessions", 0),
    Feature("tolerated_rate_28d", "history", "ratio", "share of attended sessions tolerated (DESIGN.md section 3 label), last 28 days", "sessions", 0),
    Feature("rpe_mean_28d", "history", "Borg 6-20", "mean RPE of attended sessions, last 28 days", "sessions", 0),
    Feature("rpe_over_target_28d", "history", "RPE points", "mean RPE minus the top of the prescribed band, last 28 days", "sessions", 0),
    Feature("pain_mean_28d", "history", "0-10", "mean in-session pain, last 28 days", "sessions", 0),
    Feature("fatigue_mean_28d", "history", "0-10", "mean in-session fatigue, last 28 days", "sessions", 0),
    Feature("completed_minutes_28d", "history", "min", "minutes completed, last 28 days", "sessions", 0),
    Feature("mild_ae_28d", "history", "count", "mild adverse events, last 28 days", "sessions", 0),
    Feature("moderate_ae_28d", "history", "count", "moderate or serious adverse events, last 28 days", "sessions", 0),
    Feature("serious_ae_28d", "history", "count", "serious adverse events, last 28 days", "sessions", 0),
    Feature("attendance_rate_last3", "history", "ratio", "share of planned sessions attended, last 3 planned sessions", "sessions", 0),
    Feature("completion_rate_last3", "history", "ratio", "mean completed / planned (minutes, or sets for resistance; capped at 1.5) of attended sessions, last 3 planned sessions", "sessions", 0),
    Feature("tolerated_rate_last3", "history", "ratio", "share of attended sessions tolerated (DESIGN.md section 3 label), last 3 planned sessions", "sessions", 0),
    Feature("rpe_mean_last3", "history", "Borg 6-20", "mean RPE of attended sessions, last 3 planned sessions", "sessions", 0),
    Feature("rpe_over_target_last3", "history", "RPE points", "mean RPE minus the top of the prescribed band, last 3 planned sessions", "sessions", 0),
    Feature("attendance_rate_last5", "history", "ratio", "share of planned sessions attended, last 5 planned sessions", "sessions", 0),
    Feature("completion_rate_last5", "history", "ratio", "mean completed / planned (minutes, or sets for resistance; capped at 1.5) of attended sessions, last 5 planned sessions", "sessions", 0),
    Feature("tolerated_rate_last5", "history", "ratio", "share of attended sessions tolerated (DESIGN.md section 3 label), last 5 planned sessions", "sessions", 0),
    Feature("rpe_mean_last5", "history", "Borg 6-20", "mean RPE of attended sessions, last 5 planned sessions", "sessions", 0),
    Feature("rpe_over_target_last5", "history", "RPE points", "mean RPE minus the top of the prescribed band, last 5 planned sessions", "sessions", 0),
    Feature("aerobic_sessions_per_week_28d", "history", "sessions/week", "planned aerobic sessions per week, last 28 days", "sessions", 0, kernel=True),
    Feature("aerobic_minutes_mean_28d", "history", "min", "mean planned minutes of aerobic sessions, last 28 days", "sessions", 0, kernel=True),
    Feature("aerobic_pct_hrmax_mean_28d", "history", "%HRmax", "mean planned aerobic intensity, last 28 days", "sessions", 0, kernel=True),
    Feature("aerobic_weekly_minutes_28d", "history", "min/week", "planned aerobic minutes per week, last 28 days", "sessions", 0),
    Feature("resistance_sessions_per_week_28d", "history", "sessions/week", "planned resistance sessions per week, last 28 days", "sessions", 0, kernel=True),
    Feature("resistance_sets_mean_28d", "history", "sets", "mean planned sets of resistance sessions, last 28 days", "sessions", 0, kernel=True),
    Feature("resistance_pct_1rm_mean_28d", "history", "%1RM", "mean planned resistance load, last 28 days", "sessions", 0, kernel=True),
    Feature("n_sessions_total", "history", "sessions", "planned sessions ever", "sessions", 0),
    Feature("attendance_rate_total", "history", "ratio", "share of all planned sessions attended", "sessions", 0),
    Feature("tolerated_rate_total", "history", "ratio", "share of all attended sessions tolerated", "sessions", 0),
    Feature("days_since_last_session", "history", "days", "days since the last attended session", "sessions", 0),
    Feature("days_since_last_planned", "history", "days", "days since the last planned session", "sessions", 0),
    Feature("days_since_first_session", "history", "days", "days since the first planned session", "sessions", 0),
    Feature("intolerant_streak", "history", "sessions", "attended sessions since the last tolerated one", "sessions", 0, kernel=True),
    Feature("missed_streak", "history", "sessions", "planned sessions missed in a row, up to as_of", "sessions", 0),
    Feature("attendance_trend_7_28", "history", "ratio", "attendance_rate_7d minus attendance_rate_28d", "sessions", 0),
    Feature("rpe_over_target_trend_7_28", "history", "RPE points", "rpe_over_target_7d minus rpe_over_target_28d", "sessions", 0),
    Feature("rpe_slope_last5", "history", "RPE points/session", "least-squares slope of RPE over the last 5 sessions with an RPE", "sessions", 0),
    Feature("aerobic_intolerant_streak", "history", "sessions", "attended aerobic sessions since the last tolerated aerobic one", "sessions", 0, kernel=True),
    Feature("resistance_intolerant_streak", "history", "sessions", "attended resistance sessions since the last tolerated resistance one", "sessions", 0, kernel=True),
    Feature("aerobic_moderate_ae_7d", "history", "count", "aerobic sessions only: moderate or serious adverse events, last 7 days", "sessions", 0, kernel=True),
    Feature("resistance_moderate_ae_7d", "history", "count", "resistance sessions only: moderate or serious adverse events, last 7 days", "sessions", 0, kernel=True),
    Feature("aerobic_serious_ae_7d", "history", "count", "aerobic sessions only: serious adverse events, last 7 days", "sessions", 0),
    Feature("resistance_serious_ae_7d", "history", "count", "resistance sessions only: serious adverse events, last 7 days", "sessions", 0),
    Feature("aerobic_moderate_ae_14d", "history", "count", "aerobic sessions only: moderate or serious adverse events, last 14 days", "sessions", 0),
    Feature("resistance_moderate_ae_14d", "history", "count", "resistance sessions only: moderate or serious adverse events, last 14 days", "sessions", 0, kernel=True),
    Feature("aerobic_serious_ae_14d", "history", "count", "aerobic sessions only: serious adverse events, last 14 days", "sessions", 0),
    Feature("resistance_serious_ae_14d", "history", "count", "resistance sessions only: serious adverse events, last 14 days", "sessions", 0),
    Feature("aerobic_n_planned_14d", "history", "sessions", "aerobic sessions only: planned sessions, last 14 days", "sessions", 0),
    Feature("resistance_n_planned_14d", "history", "sessions", "resistance sessions only: planned sessions, last 14 days", "sessions", 0),
    Feature("aerobic_attendance_rate_14d", "history", "ratio", "aerobic sessions only: share of planned sessions attended, last 14 days", "sessions", 0),
    Feature("resistance_attendance_rate_14d", "history", "ratio", "resistance sessions only: share of planned sessions attended, last 14 days", "sessions", 0),
    Feature("aerobic_completion_rate_14d", "history", "ratio", "aerobic sessions only: mean completed / planned (minutes, or sets for resistance; capped at 1.5) of attended sessions, last 14 days", "sessions", 0, kernel=True),
    Feature("resistance_completion_rate_14d", "history", "ratio", "resistance sessions only: mean completed / planned (minutes, or sets for resistance; capped at 1.5) of attended sessions, last 14 days", "sessions", 0, kernel=True),
    Feature("aerobic_tolerated_rate_14d", "history", "ratio", "aerobic sessions only: share of attended sessions tolerated (DESIGN.md section 3 label), last 14 days", "sessions", 0),
    Feature("resistance_tolerated_rate_14d", "history", "ratio", "resistance sessions only: share of attended sessions tolerated (DESIGN.md section 3 label), last 14 days", "sessions", 0, kernel=True),
    Feature("aerobic_tolerated_weekly_minutes_28d", "history", "min/week", "aerobic sessions only: the most minutes completed (each session at most as planned) in one of the four 7-day windows of the last 28 days in which at least one session was attended and every attended one was tolerated with its completion logged (0: none)", "sessions", 0, kernel=True, since="1.3.0"),
    Feature("resistance_tolerated_pct_1rm_28d", "history", "%1RM", "resistance sessions only: the highest mean planned %1RM of the attended sessions of one of the four 7-day windows of the last 28 days in which at least one session was attended and every attended one was tolerated with its completion logged (NaN: none)", "sessions", 0, kernel=True, since="1.3.0"),
    Feature("fatigue_8plus_7d", "history", "sessions", "sessions with in-session fatigue scored 8/10 or more, last 7 days", "sessions", 0, kernel=True),
    Feature("pain_8plus_7d", "history", "sessions", "sessions with in-session pain scored 8/10 or more, last 7 days", "sessions", 0, kernel=True),
    # --- candidate ---------------------------------------------------------------------------------
    Feature("aerobic_sessions", "candidate", "sessions/week", "candidate: aerobic sessions per week", "candidates", -1),
    Feature("aerobic_minutes", "candidate", "min", "candidate: minutes per aerobic session", "candidates", -1),
    Feature("aerobic_pct_hrmax", "candidate", "%HRmax", "candidate: aerobic intensity", "candidates", -1),
    Feature("resistance_sessions", "candidate", "sessions/week", "candidate: resistance sessions per week", "candidates", -1),
    Feature("resistance_sets", "candidate", "sets", "candidate: sets per resistance session", "candidates", -1),
    Feature("resistance_reps", "candidate", "reps", "candidate: reps per set", "candidates", -1),
    Feature("resistance_pct_1rm", "candidate", "%1RM", "candidate: resistance load", "candidates", -1),
    Feature("weekly_aerobic_minutes", "candidate", "min/week", "candidate: aerobic sessions x minutes", "candidates", -1),
    Feature("weekly_modeq_minutes", "candidate", "min/week", "candidate: weekly aerobic minutes, a vigorous minute counted twice (PAG 2018)", "candidates", -1),
    Feature("total_sessions", "candidate", "sessions/week", "candidate: aerobic + resistance sessions per week", "candidates", -1),
    Feature("is_aerobic", "candidate", "1/0", "the row asks about an aerobic session (0: resistance; NaN: whole week)", "candidates", 0),
    Feature("session_minutes", "candidate", "min", "minutes of the session asked about (aerobic rows)", "candidates", -1),
    Feature("session_intensity", "candidate", "%HRmax or %1RM", "intensity of the session asked about", "candidates", -1),
    Feature("session_sets", "candidate", "sets", "sets of the session asked about (resistance rows)", "candidates", -1),
    Feature("session_intensity_vs_recent", "candidate", "points", "session intensity minus the 28-day mean planned intensity of that modality", "candidates", -1),
    Feature("session_minutes_vs_recent", "candidate", "ratio", "session minutes over the 28-day mean planned aerobic minutes", "candidates", -1),
    Feature("session_sets_vs_recent", "candidate", "sets", "session sets minus the 28-day mean planned sets", "candidates", -1),
    Feature("weekly_aerobic_minutes_vs_recent", "candidate", "ratio", "weekly aerobic minutes over the 28-day weekly mean", "candidates", -1),
    Feature("aerobic_pct_hrmax_vs_recent", "candidate", "points", "candidate aerobic intensity minus the 28-day mean", "candidates", -1),
    Feature("resistance_pct_1rm_vs_recent", "candidate", "points", "candidate resistance load minus the 28-day mean", "candidates", -1),
)
# fmt: on


def names(group: Group | None = None) -> tuple[str, ...]:
    """Feature names in model-column order (of one group, or all)."""
    return tuple(f.name for f in FEATURES if group is None or f.group == group)


def monotone_decreasing() -> tuple[str, ...]:
    return tuple(f.name for f in FEATURES if f.monotone == -1)


# The history features the guideline kernel reads (serving/guidelines/rules.yaml); SAFETY.md.
KERNEL_HISTORY_FACTS: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kernel)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def stale_columns(columns: Iterable[str], built_on: str | None) -> list[str]:
    """The columns a model trained on FEATURE_SET `built_on` reads whose meaning has changed
    since (all of them when the version is unknown; a column no longer declared too). Features
    added later are no concern: that model does not read them."""
    since = {f.name: f.since for f in FEATURES}
    try:
        trained = _version(built_on or "")
    except ValueError:
        return list(columns)
    return [c for c in columns if c not in since or _version(since[c]) > trained]


def markdown() -> str:
    """The registry as the Markdown table of features/FEATURES.md."""
    rows = [
        "# Model features",
        "",
        "Generated from `features/registry.py` by `python -m features.registry > features/FEATURES.md`",
        "(tests/code/test_feature_registry.py checks it is current). Monotone -1: the models' outputs",
        "never rise as the feature grows. Kernel: a history fact the guideline rules read (SAFETY.md).",
        "Since: the FEATURE_SET version that gave the feature its present meaning (a model trained",
        "on an older version is not served).",
        "",
        "| # | feature | group | unit | source | monotone | kernel | since | description |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, f in enumerate(FEATURES, 1):
        mono = "-1" if f.monotone else ""
        kernel = "yes" if f.kernel else ""
        rows.append(
            f"| {i} | `{f.name}` | {f.group} | {f.unit} | {f.source} | {mono} | {kernel} | {f.since} | {f.description} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
