"""One test per rule of rules.yaml: it fires exactly when its condition holds, with its effect.

Every case starts from the healthy patient of conftest.py (only the global caps fire) and changes a
few facts. `fires` lists fact changes that must fire the rule (the first one is also used to check
the effect), `quiet` lists changes just across the threshold, or with the fact unknown, that must
not. ``{"rx": "current"}`` adds conftest's current prescription (3 x 30 min at 64-68% HRmax;
2 x 2 sets x 10-12 reps at 45-50% 1RM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
import yaml

from serving.guidelines import kernel as gk
from serving.guidelines.envelope import EMPTY, is_consistent, no_looser

RULES = gk.default_rules()
RULE_IDS = [r.id for r in RULES.rules]
NAN = math.nan
VERSION = "2026.12.7"


@dataclass(frozen=True)
class Case:
    fires: tuple[dict[str, Any], ...]
    quiet: tuple[dict[str, Any], ...] = ()
    decision: str = "allowed"
    restrictions: frozenset[str] = frozenset()
    env: dict[str, Any] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()  # unknown_facts of the first `fires` case, exactly


def R(*names: str) -> frozenset[str]:
    return frozenset(names)


CUR = {"rx": "current"}
NO_AEROBIC_PROGRESSION_ENV = {
    "aerobic_sessions_max": 3,
    "aerobic_weekly_volume_max": 90,
    "aerobic_pct_hrmax_max": 68,
    "resistance_pct_1rm_max": 55,  # resistance still progresses (+10%)
}
NO_RESISTANCE_PROGRESSION_ENV = {
    "resistance_pct_1rm_max": 50,
    "resistance_pct_1rm_progression_max": 50,
    "resistance_sessions_max": 2,
    "resistance_sets_max": 2,
    "aerobic_weekly_volume_max": 99,  # aerobic still progresses (+10%)
}
NO_AEROBIC_RX = {
    "rx_aerobic_sessions": None,
    "rx_aerobic_minutes": None,
    "rx_aerobic_pct_hrmax_low": None,
    "rx_aerobic_pct_hrmax_high": None,
    "rx_aerobic_rpe_low": None,
    "rx_aerobic_rpe_high": None,
}
NO_RESISTANCE_RX = {
    "rx_resistance_sessions": None,
    "rx_resistance_sets": None,
    "rx_resistance_reps_low": None,
    "rx_resistance_reps_high": None,
    "rx_resistance_pct_1rm_low": None,
    "rx_resistance_pct_1rm_high": None,
}
CHEMO = {"treatment_phase": "chemotherapy", "days_since_infusion": 10, "next_infusion_in_days": 11}
CLEARED_BONE = {"metastatic_sites": "bone", "medical_clearance": True}
SYMPTOMATIC_DAY = {  # light, short sessions (severe fatigue or pain)
    "aerobic_pct_hrmax_max": 63,
    "aerobic_rpe_max": 11,
    "aerobic_minutes_max": 10,
    "resistance_pct_1rm_max": 50,
    "resistance_sets_max": 2,
}

CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- hold
    "hold.platelets_below_20": Case(
        fires=({"platelets_10e9_l": 19.9}, {"platelets_10e9_l": 0}),
        quiet=({"platelets_10e9_l": 20}, {"platelets_10e9_l": None}, {"platelets_10e9_l": NAN}),
        decision="hold",
    ),
    "hold.hemoglobin_below_8": Case(
        fires=({"hemoglobin_g_dl": 7.99}, {"hemoglobin_g_dl": 2}),
        quiet=({"hemoglobin_g_dl": 8}, {"hemoglobin_g_dl": None}),
        decision="hold",
    ),
    "hold.anc_below_0_5": Case(
        fires=({"anc_10e9_l": 0.5}, {"anc_10e9_l": 0.49}, {"anc_10e9_l": 0}),
        quiet=({"anc_10e9_l": 0.51}, {"anc_10e9_l": None}),
        decision="hold",
    ),
    "hold.fever": Case(
        fires=({"temperature_c": 38.0}, {"temperature_c": 40.2}),
        quiet=({"temperature_c": 37.99}, {"temperature_c": None}),
        decision="hold",
    ),
    "hold.resting_hr_120": Case(
        fires=({"resting_hr": 120}, {"resting_hr": 180}),
        quiet=({"resting_hr": 119.9}, {"resting_hr": None}),
        decision="hold",
    ),
    "hold.blood_pressure": Case(
        fires=(
            {"systolic_bp": 200.5},
            {"diastolic_bp": 111},
            {"systolic_bp": 250, "diastolic_bp": 130},
        ),
        quiet=(
            {"systolic_bp": 200, "diastolic_bp": 110},
            {"systolic_bp": None, "diastolic_bp": None},
        ),
        decision="hold",
    ),
    "hold.spo2_below_88": Case(
        fires=({"spo2": 87.9}, {"spo2": 50}),
        quiet=({"spo2": 88}, {"spo2": None}),
        decision="hold",
    ),
    "hold.vomiting_24h": Case(
        fires=({"vomiting_24h": True}, {"vomiting_24h": "true"}),
        quiet=({"vomiting_24h": False}, {"vomiting_24h": None}, {"vomiting_24h": pd.NA}),
        decision="hold",
    ),
    "hold.serious_ae_7d": Case(
        fires=({"serious_ae_7d": 1}, {"serious_ae_7d": 3}),
        quiet=({"serious_ae_7d": 0}, {"serious_ae_7d": None}),
        decision="hold",
    ),
    "hold.hemoglobin_below_9_cardiovascular": Case(
        fires=(
            {"hemoglobin_g_dl": 8.99, "comorbidities": "cardiovascular_disease"},
            {"hemoglobin_g_dl": 8, "comorbidities": "diabetes;cardiovascular_disease"},
        ),
        quiet=(
            {"hemoglobin_g_dl": 9, "comorbidities": "cardiovascular_disease"},
            {"hemoglobin_g_dl": 8.5},
            {"hemoglobin_g_dl": None, "comorbidities": "cardiovascular_disease"},
        ),
        decision="hold",
    ),
    "hold.glucose": Case(
        fires=({"glucose_mg_dl": 69.9}, {"glucose_mg_dl": 300.5}, {"glucose_mg_dl": 20}),
        quiet=({"glucose_mg_dl": 70}, {"glucose_mg_dl": 300}, {"glucose_mg_dl": None}),
        decision="hold",
    ),
    # ---------------------------------------------------------------- refer
    "refer.ecog_3_plus": Case(
        fires=({"ecog": 3}, {"ecog": 4}),
        quiet=({"ecog": 2}, {"ecog": None}),
        decision="refer",
    ),
    "refer.bone_metastases_no_clearance": Case(
        fires=(
            {"metastatic_sites": "bone", "medical_clearance": False},
            {"metastatic_sites": "liver;bone", "medical_clearance": None},
        ),
        quiet=(
            {"metastatic_sites": "bone", "medical_clearance": True},
            {"metastatic_sites": "liver", "medical_clearance": False},
        ),
        decision="refer",
    ),
    "refer.bone_metastases_pain_or_neurological": Case(
        fires=(
            CLEARED_BONE | {"pain": 7},
            CLEARED_BONE | {"neurological_symptoms": True},
            CLEARED_BONE | {"metastatic_sites": "liver;bone", "pain": 9},
            CLEARED_BONE | {"pain": None, "pain_8plus_7d": 1},  # 2026.12.5: a session scored 8+
        ),
        quiet=(
            CLEARED_BONE | {"pain": 6.9},
            CLEARED_BONE | {"neurological_symptoms": None, "pain": None},
            CLEARED_BONE | {"pain": 3, "pain_8plus_7d": 2},  # the visit's own score is today's
            {"metastatic_sites": "lung", "pain": 9, "neurological_symptoms": True},
        ),
        decision="refer",
    ),
    "refer.bone_metastases_high_fracture_risk": Case(
        fires=(CLEARED_BONE | {"bone_fracture_risk": "high"},),
        quiet=(
            CLEARED_BONE | {"bone_fracture_risk": "moderate"},
            CLEARED_BONE | {"bone_fracture_risk": None},
            {"metastatic_sites": "liver", "bone_fracture_risk": "high"},
        ),
        decision="refer",
    ),
    "refer.brain_metastases_no_clearance": Case(
        fires=(
            {"metastatic_sites": "brain", "medical_clearance": False},
            {"metastatic_sites": ["brain", "lung"], "medical_clearance": None},
        ),
        quiet=(
            {"metastatic_sites": "brain", "medical_clearance": True},
            {"metastatic_sites": "lung", "medical_clearance": False},
        ),
        decision="refer",
    ),
    "refer.lvef_below_40": Case(
        fires=({"lvef_pct": 39.9}, {"lvef_pct": 20, "medical_clearance": None}),
        quiet=({"lvef_pct": 40}, {"lvef_pct": 35, "medical_clearance": True}, {"lvef_pct": None}),
        decision="refer",
    ),
    "refer.recent_surgery_6_weeks": Case(
        fires=({"recent_surgery_days": 0}, {"recent_surgery_days": 41}),
        quiet=(
            {"recent_surgery_days": 42},
            {"recent_surgery_days": 10, "medical_clearance": True},
            {"recent_surgery_days": None},
        ),
        decision="refer",
    ),
    # ---------------------------------------------------------------- global caps
    "global.aerobic_intensity": Case(
        fires=({},),
        env={"aerobic_pct_hrmax_min": 40, "aerobic_pct_hrmax_max": 85, "aerobic_rpe_max": 17},
    ),
    "global.aerobic_minutes": Case(
        fires=({},), env={"aerobic_minutes_min": 10, "aerobic_minutes_max": 60}
    ),
    "global.weekly_sessions": Case(
        fires=({},), env={"aerobic_sessions_max": 6, "total_sessions_max": 6}
    ),
    "global.weekly_volume": Case(fires=({},), env={"weekly_modeq_minutes_max": 300}),
    "global.resistance": Case(
        fires=({},),
        env={
            "resistance_allowed": True,
            "resistance_sessions_max": 3,
            "resistance_sets_min": 1,
            "resistance_sets_max": 3,
            "resistance_reps_min": 8,
            "resistance_reps_max": 15,
            "resistance_pct_1rm_min": 30,
            "resistance_pct_1rm_max": 80,
            "resistance_pct_1rm_progression_max": math.inf,
            "aerobic_weekly_volume_max": math.inf,
        },
    ),
    "aerobic.intensity_76_unless_eligible": Case(
        fires=(
            {"ecog": 1},
            {"metastatic_sites": "skin"},
            {"treatment_phase": "chemotherapy", "days_since_infusion": 5},
            {"treatment_phase": "chemotherapy", "days_since_infusion": None},
            {"next_infusion_in_days": 2},
            {"comorbidities": "cardiovascular_disease"},
            {"cardiotoxic_therapy": True},
            {"ecog": None},
            # a grant needs every favourable fact known (2026.12.1)
            {"resting_hr": None},
            {"resting_hr": 100},
            {"cardiotoxic_therapy": None},
            {"treatment_phase": "chemotherapy", "days_since_infusion": 6},  # next one unknown
        ),
        quiet=(
            {
                "treatment_phase": "chemotherapy",
                "days_since_infusion": 6,
                "next_infusion_in_days": 9,
            },
            {"cardiotoxic_therapy": None, "medical_clearance": True},
            {"next_infusion_in_days": 3, "days_since_infusion": 18},
            {"comorbidities": "cardiovascular_disease", "medical_clearance": True},
            {"cardiotoxic_therapy": True, "medical_clearance": True},
            {"comorbidities": "diabetes"},
        ),
        env={"aerobic_pct_hrmax_max": 76, "aerobic_rpe_max": 13},
    ),
    # ---------------------------------------------------------------- unknown in chemo window
    "unknown.platelets": Case(
        fires=(
            CHEMO | {"platelets_10e9_l": None},
            {"days_since_infusion": 21, "platelets_10e9_l": NAN},
            {"next_infusion_in_days": 7, "platelets_10e9_l": None},
        ),
        quiet=(
            CHEMO,
            {"platelets_10e9_l": None},  # after treatment: an unknown count is just unknown
            {"days_since_infusion": 22, "platelets_10e9_l": None},
        ),
        restrictions=R("no_resistance"),
        env={"aerobic_pct_hrmax_max": 63, "aerobic_rpe_max": 11, "resistance_allowed": False},
        unknown=("platelets_10e9_l",),
    ),
    "unknown.anc": Case(
        fires=(CHEMO | {"anc_10e9_l": None}, {"next_infusion_in_days": 21, "anc_10e9_l": None}),
        quiet=(CHEMO, {"anc_10e9_l": None}, {"next_infusion_in_days": 22, "anc_10e9_l": None}),
        restrictions=R("avoid_public_facilities", "no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76, "resistance_pct_1rm_max": 69},
        unknown=("anc_10e9_l",),
    ),
    "unknown.hemoglobin": Case(
        fires=(CHEMO | {"hemoglobin_g_dl": None},),
        quiet=(CHEMO, {"hemoglobin_g_dl": None}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
        unknown=("hemoglobin_g_dl",),
    ),
    "unknown.temperature_with_low_anc": Case(
        fires=(
            CHEMO | {"temperature_c": None, "anc_10e9_l": 1.0},
            CHEMO | {"temperature_c": NAN, "anc_10e9_l": None},
        ),
        quiet=(
            CHEMO | {"temperature_c": None, "anc_10e9_l": 1.5},
            {"temperature_c": None, "anc_10e9_l": 1.0},
            CHEMO | {"anc_10e9_l": 1.0},
        ),
        restrictions=R("check_temperature", "avoid_public_facilities", "no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
        unknown=("temperature_c",),
    ),
    "unknown.resting_hr": Case(
        fires=(
            CHEMO | {"resting_hr": None},
            {"next_infusion_in_days": 21, "resting_hr": NAN},
            {"resting_hr": None},  # after treatment too (2026.12.2)
        ),
        quiet=(CHEMO, {"resting_hr": 99.9}, {"next_infusion_in_days": 22}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
        unknown=("resting_hr",),
    ),
    "unknown.spo2": Case(
        fires=(CHEMO | {"spo2": None}, {"spo2": NAN}),
        quiet=(CHEMO, {"spo2": 95}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
        unknown=("spo2",),
    ),
    "unknown.days_since_infusion": Case(
        fires=(
            {
                "treatment_phase": "chemotherapy",
                "days_since_infusion": None,
                "next_infusion_in_days": 9,
            },
            {"next_infusion_in_days": 9, "days_since_infusion": None},
        ),
        quiet=(CHEMO, {"days_since_infusion": None}, {"next_infusion_in_days": 22}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 63, "aerobic_rpe_max": 11, "resistance_pct_1rm_max": 50},
        unknown=("days_since_infusion",),
    ),
    "unknown.next_infusion_in_days": Case(
        fires=(
            {"treatment_phase": "chemotherapy", "days_since_infusion": 10},
            {"treatment_phase": "palliative", "days_since_infusion": 9},
            {"treatment_phase": "immunotherapy", "days_since_infusion": 21},
        ),
        quiet=(
            CHEMO,
            {"treatment_phase": "post_treatment", "days_since_infusion": 9},  # treatment ended
            {"treatment_phase": "none", "days_since_infusion": 12},
            {"treatment_phase": "palliative", "days_since_infusion": 22},  # not in the window
        ),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 63, "aerobic_rpe_max": 11, "resistance_pct_1rm_max": 50},
        unknown=("next_infusion_in_days",),
    ),
    # ---------------------------------------------------------------- labs, vitals, ECOG
    "labs.platelets_20_50": Case(
        fires=({"platelets_10e9_l": 35}, {"platelets_10e9_l": 20}, {"platelets_10e9_l": 50}),
        quiet=({"platelets_10e9_l": 50.1}, {"platelets_10e9_l": None}),
        restrictions=R("no_resistance"),
        env={
            "aerobic_pct_hrmax_max": 63,
            "aerobic_rpe_max": 11,  # light (2026.12.5)
            "resistance_allowed": False,
            "resistance_sessions_max": 0,
        },
    ),
    "labs.anc_0_5_to_1_5": Case(
        fires=({"anc_10e9_l": 1.0}, {"anc_10e9_l": 0.51}, {"anc_10e9_l": 1.49}),
        quiet=({"anc_10e9_l": 1.5}, {"anc_10e9_l": None}),
        restrictions=R("avoid_public_facilities", "no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
    ),
    "labs.hemoglobin_8_to_10": Case(
        fires=({"hemoglobin_g_dl": 9}, {"hemoglobin_g_dl": 8}, {"hemoglobin_g_dl": 9.99}),
        quiet=({"hemoglobin_g_dl": 10}, {"hemoglobin_g_dl": None}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
    ),
    "vitals.resting_hr_100_to_119": Case(
        fires=({"resting_hr": 100}, {"resting_hr": 119.9}),
        quiet=({"resting_hr": 99.9}, {"resting_hr": None}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
    ),
    "vitals.spo2_88_to_94": Case(
        fires=({"spo2": 88}, {"spo2": 94.9}, {"spo2": 91}),
        quiet=({"spo2": 95}, {"spo2": 87.9}, {"spo2": None}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76, "resistance_pct_1rm_max": 69},
    ),
    "symptoms.severe_pain": Case(
        fires=({"pain": 8}, {"pain": 10}),
        quiet=({"pain": 7.9}, {"pain": None}),
        restrictions=R("no_vigorous"),
        env=SYMPTOMATIC_DAY,
    ),
    "symptoms.severe_fatigue": Case(
        fires=({"fatigue": 8}, {"fatigue": 10}),
        quiet=({"fatigue": 7.9}, {"fatigue": None}),
        restrictions=R("no_vigorous"),
        env=SYMPTOMATIC_DAY,
    ),
    "symptoms.recent_severe_fatigue": Case(
        fires=(
            {"fatigue": None, "fatigue_mean_7d": 8.5, "fatigue_8plus_7d": 1},
            {"fatigue": NAN, "fatigue_mean_7d": 5.0, "fatigue_8plus_7d": 2},
        ),
        quiet=(
            {"fatigue": 3, "fatigue_mean_7d": 9.0, "fatigue_8plus_7d": 3},  # the visit decides
            {"fatigue": None, "fatigue_mean_7d": 7.0, "fatigue_8plus_7d": 0},
            {"fatigue": None},  # nothing recent either: unknown.fatigue
        ),
        restrictions=R("no_vigorous"),
        env=SYMPTOMATIC_DAY,
    ),
    "unknown.fatigue": Case(
        fires=(
            {"fatigue": None},
            {"fatigue": NAN, "fatigue_mean_7d": None, "fatigue_8plus_7d": 0},
            {"fatigue": None, "fatigue_mean_7d": 2.0, "fatigue_8plus_7d": None},
        ),
        quiet=(
            {"fatigue": 3},
            {"fatigue": None, "fatigue_mean_7d": 2.0, "fatigue_8plus_7d": 0},
        ),
        restrictions=R("no_vigorous"),
        env=SYMPTOMATIC_DAY,
        unknown=("fatigue",),
    ),
    "symptoms.recent_severe_pain": Case(
        fires=({"pain": None, "pain_mean_7d": 8.0, "pain_8plus_7d": 1},),
        quiet=(
            {"pain": 1, "pain_mean_7d": 9.0, "pain_8plus_7d": 2},
            {"pain": None, "pain_mean_7d": 7.5, "pain_8plus_7d": 0},
            {"pain": None},
        ),
        restrictions=R("no_vigorous"),
        env=SYMPTOMATIC_DAY,
    ),
    "unknown.pain": Case(
        fires=({"pain": None}, {"pain": None, "pain_mean_7d": None, "pain_8plus_7d": 0}),
        quiet=({"pain": 0}, {"pain": None, "pain_mean_7d": 1.0, "pain_8plus_7d": 0}),
        restrictions=R("no_vigorous"),
        env=SYMPTOMATIC_DAY,
        unknown=("pain",),
    ),
    "ecog.2_light_moderate": Case(
        fires=({"ecog": 2},),
        quiet=({"ecog": 1}, {"ecog": None}),
        restrictions=R("no_vigorous"),
        env={"aerobic_minutes_max": 30, "aerobic_pct_hrmax_max": 76},
    ),
    # ---------------------------------------------------------------- infusion, cardiac
    "infusion.window_no_vigorous": Case(
        fires=(
            {
                "treatment_phase": "chemotherapy",
                "days_since_infusion": 5,
                "next_infusion_in_days": 16,
            },
            {
                "treatment_phase": "chemotherapy",
                "days_since_infusion": 1,
                "next_infusion_in_days": 20,
            },
            {"next_infusion_in_days": 2},
            {"treatment_phase": "immunotherapy", "days_since_infusion": 3},
        ),
        quiet=(
            {"treatment_phase": "chemotherapy", "days_since_infusion": 6},
            {"next_infusion_in_days": 3},
            {"days_since_infusion": None},
        ),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76, "resistance_pct_1rm_max": 69},
    ),
    "infusion.day_light_only": Case(
        fires=(
            {
                "treatment_phase": "chemotherapy",
                "days_since_infusion": 0,
                "next_infusion_in_days": 21,
            },
            {"next_infusion_in_days": 0},
        ),
        quiet=({"days_since_infusion": 1}, {"next_infusion_in_days": 1}, {}),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 63, "aerobic_rpe_max": 11, "resistance_pct_1rm_max": 50},
    ),
    "cardiac.no_clearance": Case(
        fires=(
            {"comorbidities": "cardiovascular_disease"},
            {"cardiotoxic_therapy": True},
            {"comorbidities": "cardiovascular_disease", "medical_clearance": None},
        ),
        quiet=(
            {"comorbidities": "cardiovascular_disease", "medical_clearance": True},
            {"cardiotoxic_therapy": True, "medical_clearance": True},
            {"cardiotoxic_therapy": None},
            {"comorbidities": "diabetes"},
        ),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76, "resistance_pct_1rm_max": 60},
    ),
    # ---------------------------------------------------------------- metastases (cleared)
    "unknown.cardiotoxic_therapy": Case(
        fires=(
            {"cardiotoxic_therapy": None},
            {"cardiotoxic_therapy": NAN, "medical_clearance": None},
        ),
        quiet=(
            {"cardiotoxic_therapy": None, "medical_clearance": True},
            {"cardiotoxic_therapy": False},
            {"cardiotoxic_therapy": True},  # known: cardiac.no_clearance instead
        ),
        restrictions=R("no_vigorous"),
        env={"resistance_pct_1rm_max": 60, "aerobic_pct_hrmax_max": 76},
        unknown=("cardiotoxic_therapy",),
    ),
    "metastasis.bone": Case(
        fires=(CLEARED_BONE | {"bone_fracture_risk": "low"}, CLEARED_BONE),
        quiet=({"metastatic_sites": "liver", "medical_clearance": True},),
        restrictions=R("no_high_impact", "no_spinal_loading", "supervised_resistance"),
        env={"resistance_pct_1rm_max": 60},
    ),
    "unknown.bone_metastases_pain": Case(
        fires=(CLEARED_BONE | {"bone_fracture_risk": "low", "pain": None},),
        quiet=(
            CLEARED_BONE | {"bone_fracture_risk": "low", "pain": 6},
            {"metastatic_sites": "liver", "pain": None},
        ),
        restrictions=R("supervised_only", "no_spinal_loading", "no_high_impact"),
        env={"resistance_pct_1rm_max": 50},
        unknown=("pain",),
    ),
    "unknown.bone_metastases_neurological": Case(
        fires=(CLEARED_BONE | {"bone_fracture_risk": "low", "neurological_symptoms": None},),
        quiet=(
            CLEARED_BONE | {"bone_fracture_risk": "low", "neurological_symptoms": False},
            {"metastatic_sites": "lung", "neurological_symptoms": None},
        ),
        restrictions=R("supervised_only", "no_spinal_loading", "no_high_impact"),
        env={"resistance_pct_1rm_max": 50},
        unknown=("neurological_symptoms",),
    ),
    "metastasis.bone_fracture_risk_not_low": Case(
        fires=(
            CLEARED_BONE | {"bone_fracture_risk": "moderate"},
            CLEARED_BONE | {"bone_fracture_risk": None},
        ),
        quiet=(
            CLEARED_BONE | {"bone_fracture_risk": "low"},
            {"metastatic_sites": "liver", "bone_fracture_risk": "moderate"},
        ),
        restrictions=R("supervised_only", "no_spinal_loading", "no_high_impact"),
        env={"resistance_pct_1rm_max": 50},
    ),
    "metastasis.lung": Case(
        fires=({"metastatic_sites": "lung"},),
        quiet=({"metastatic_sites": "liver"},),
        restrictions=R("no_vigorous"),
        env={"aerobic_pct_hrmax_max": 76},
    ),
    "metastasis.liver": Case(
        fires=({"metastatic_sites": "liver"},),
        quiet=({"metastatic_sites": "lung"},),
        env={
            "aerobic_pct_hrmax_max": 63,
            "aerobic_rpe_max": 11,
            "aerobic_minutes_max": 30,
            "resistance_pct_1rm_max": 50,
        },
    ),
    "metastasis.brain": Case(
        fires=({"metastatic_sites": "brain", "medical_clearance": True},),
        quiet=({"metastatic_sites": "skin"},),
        restrictions=R("no_vigorous", "balance_focus", "supervised_only", "stationary_modes_only"),
        env={"aerobic_pct_hrmax_max": 63, "aerobic_rpe_max": 11, "resistance_pct_1rm_max": 50},
    ),
    "metastasis.skin": Case(
        fires=({"metastatic_sites": "skin"},),
        quiet=({"metastatic_sites": "gi"},),
        restrictions=R("low_friction"),
    ),
    "metastasis.gi": Case(
        fires=({"metastatic_sites": "gi"},),
        quiet=({"metastatic_sites": "skin"},),
        restrictions=R("no_vigorous"),
        env={"resistance_pct_1rm_max": 50},
    ),
    "lymphedema.resistance_progression": Case(
        fires=(
            CUR | {"comorbidities": "lymphedema"},
            {"comorbidities": "lymphedema"},
            {"metastatic_sites": "lymph_node"},
        ),
        quiet=({"comorbidities": "diabetes;arthritis"}, CUR),
        restrictions=R("supervised_resistance"),
        env={"resistance_pct_1rm_max": 52.5, "resistance_pct_1rm_progression_max": 52.5},
    ),
    "lymphedema.resistance_held_until_symptom_free": Case(  # 2026.12.4
        fires=(
            CUR | {"comorbidities": "lymphedema", "resistance_tolerated_rate_14d": None},
            CUR | {"metastatic_sites": "lymph_node", "resistance_tolerated_rate_14d": 0.75},
            CUR | {"comorbidities": "lymphedema", "resistance_moderate_ae_14d": 1},
            CUR | {"comorbidities": "lymphedema", "resistance_moderate_ae_14d": None},
        ),
        quiet=(
            CUR | {"comorbidities": "lymphedema"},  # 14 clean days (the healthy record)
            {"comorbidities": "lymphedema", "resistance_tolerated_rate_14d": None},  # no dose yet
            CUR | {"resistance_tolerated_rate_14d": 0.5, "resistance_moderate_ae_14d": 1},
        ),
        restrictions=R("supervised_resistance"),
        env=NO_RESISTANCE_PROGRESSION_ENV,  # held at the current dose; aerobic still +10%
    ),
    "lymphedema.start_ceiling_50": Case(
        fires=({"comorbidities": "lymphedema"}, {"metastatic_sites": "lymph_node"}),
        quiet=(CUR | {"comorbidities": "lymphedema"}, {"comorbidities": "diabetes"}),
        env={"resistance_pct_1rm_max": 50},
    ),
    # ---------------------------------------------------------------- comorbidity, treatment
    "comorbidity.peripheral_neuropathy": Case(
        fires=({"comorbidities": "peripheral_neuropathy"},),
        quiet=({"comorbidities": "osteoporosis"},),
        restrictions=R("stationary_modes_only", "balance_focus"),
    ),
    "comorbidity.osteoporosis_or_hormone_therapy": Case(
        fires=({"comorbidities": "osteoporosis"}, {"treatment_phase": "hormone_therapy"}),
        quiet=({"comorbidities": "arthritis"}, {"treatment_phase": None}),
        restrictions=R("no_high_impact", "no_spinal_loading"),
    ),
    "ostomy.resistance_needs_clearance": Case(
        fires=({"comorbidities": "ostomy"}, {"comorbidities": "ostomy", "medical_clearance": None}),
        quiet=({"comorbidities": "ostomy", "medical_clearance": True}, {"comorbidities": "copd"}),
        restrictions=R("no_resistance", "supervised_resistance"),
        env={"resistance_allowed": False, "resistance_sessions_max": 0},
    ),
    "ostomy.precautions": Case(
        fires=({"comorbidities": "ostomy", "medical_clearance": True},),
        quiet=({"comorbidities": "copd"},),
        restrictions=R("supervised_resistance", "no_high_intra_abdominal_pressure"),
        env={"resistance_allowed": True, "resistance_pct_1rm_max": 70},
    ),
    "surgery.within_12_weeks": Case(
        fires=(
            {"recent_surgery_days": 42},
            {"recent_surgery_days": 83},
            {"recent_surgery_days": 10, "medical_clearance": True},
        ),
        quiet=({"recent_surgery_days": 84}, {"recent_surgery_days": None}),
        env={"resistance_pct_1rm_max": 50},
    ),
    "unknown.recent_surgery_days": Case(
        fires=({"recent_surgery_days": None}, {"recent_surgery_days": NAN}),
        quiet=({"recent_surgery_days": 84}, {"recent_surgery_days": 400}),
        env={"resistance_pct_1rm_max": 50},
        unknown=("recent_surgery_days",),
    ),
    "treatment.radiotherapy": Case(
        fires=({"treatment_phase": "radiotherapy"},),
        quiet=({"treatment_phase": "immunotherapy"}, {"treatment_phase": None}),
        restrictions=R("no_chlorinated_pools"),
    ),
    # ---------------------------------------------------------------- progression
    "progression.weekly_volume_10pct": Case(
        fires=(CUR,),
        quiet=({}, CUR | {"rx_aerobic_sessions": 0}, CUR | {"rx_aerobic_minutes": None}),
        env={"aerobic_weekly_volume_max": 99},
    ),
    "progression.resistance_load_10pct": Case(
        fires=(CUR,),
        quiet=({}, CUR | {"rx_resistance_sessions": None}),
        env={"resistance_pct_1rm_max": 55, "resistance_pct_1rm_progression_max": 55},
    ),
    "progression.aerobic_none_after_moderate_ae": Case(
        fires=(
            CUR | {"aerobic_moderate_ae_7d": 1, "moderate_ae_7d": 1},
            CUR | {"aerobic_moderate_ae_7d": None, "moderate_ae_7d": 1},
        ),
        quiet=(
            {"aerobic_moderate_ae_7d": 1, "moderate_ae_7d": 1},
            CUR | {"resistance_moderate_ae_7d": 1, "moderate_ae_7d": 1},
            CUR | {"aerobic_moderate_ae_7d": None, "moderate_ae_7d": None},
        ),
        env=NO_AEROBIC_PROGRESSION_ENV,
    ),
    "progression.aerobic_none_after_intolerance": Case(
        fires=(
            CUR | {"aerobic_intolerant_streak": 2, "intolerant_streak": 0},
            CUR | {"aerobic_intolerant_streak": None, "intolerant_streak": 2},
        ),
        quiet=(
            CUR | {"aerobic_intolerant_streak": 1, "intolerant_streak": 5},
            {"aerobic_intolerant_streak": 5},
        ),
        env=NO_AEROBIC_PROGRESSION_ENV,
    ),
    "progression.aerobic_none_without_completed_sessions": Case(  # 2026.12.5
        fires=(CUR | {"aerobic_completion_rate_14d": None},),
        quiet=(
            CUR,  # completed (the healthy record)
            CUR | {"aerobic_completion_rate_14d": 0.5},  # known and low: the incomplete rule
            {"aerobic_completion_rate_14d": None},  # no current dose: a start, not a step
        ),
        env=NO_AEROBIC_PROGRESSION_ENV,
    ),
    "progression.resistance_none_without_completed_sessions": Case(  # 2026.12.5
        fires=(CUR | {"resistance_completion_rate_14d": None},),
        quiet=(
            CUR,
            CUR | {"resistance_completion_rate_14d": 0.5},
            {"resistance_completion_rate_14d": None},
        ),
        env=NO_RESISTANCE_PROGRESSION_ENV,
    ),
    "progression.aerobic_none_when_incomplete": Case(
        fires=(CUR | {"aerobic_completion_rate_14d": 0.85},),
        quiet=(
            CUR | {"aerobic_completion_rate_14d": 0.9},
            CUR | {"aerobic_completion_rate_14d": None},
            {"aerobic_completion_rate_14d": 0.5},
        ),
        env=NO_AEROBIC_PROGRESSION_ENV,
    ),
    "progression.resistance_none_after_moderate_ae": Case(
        fires=(
            CUR | {"resistance_moderate_ae_7d": 1, "moderate_ae_7d": 1},
            CUR | {"resistance_moderate_ae_7d": None, "moderate_ae_7d": 2},
        ),
        quiet=(
            CUR | {"aerobic_moderate_ae_7d": 1, "moderate_ae_7d": 1},
            {"resistance_moderate_ae_7d": 1},
        ),
        env=NO_RESISTANCE_PROGRESSION_ENV,
    ),
    "progression.resistance_none_after_intolerance": Case(
        fires=(
            CUR | {"resistance_intolerant_streak": 2},
            CUR | {"resistance_intolerant_streak": None, "intolerant_streak": 3},
        ),
        quiet=(
            CUR | {"resistance_intolerant_streak": 1, "intolerant_streak": 4},
            CUR | {"aerobic_intolerant_streak": 4, "intolerant_streak": 4},
        ),
        env=NO_RESISTANCE_PROGRESSION_ENV,
    ),
    "progression.resistance_none_when_incomplete": Case(
        fires=(CUR | {"resistance_completion_rate_14d": 0.5},),
        quiet=(
            CUR | {"resistance_completion_rate_14d": 0.95},
            CUR | {"resistance_completion_rate_14d": None},
        ),
        env=NO_RESISTANCE_PROGRESSION_ENV,
    ),
    "progression.no_new_aerobic_while_stalled": Case(
        fires=(
            CUR | NO_AEROBIC_RX | {"resistance_intolerant_streak": 2},
            CUR | NO_AEROBIC_RX | {"aerobic_moderate_ae_7d": 1},
        ),
        quiet=(CUR | NO_AEROBIC_RX, CUR | {"resistance_intolerant_streak": 2}),
        restrictions=R("no_aerobic"),
        env={"aerobic_sessions_max": 0, "resistance_allowed": True},
    ),
    "progression.no_new_resistance_while_stalled": Case(
        fires=(
            CUR | NO_RESISTANCE_RX | {"aerobic_intolerant_streak": 2},
            CUR | NO_RESISTANCE_RX | {"resistance_completion_rate_14d": 0.2},
            CUR | NO_RESISTANCE_RX | {"aerobic_intolerant_streak": None, "intolerant_streak": 2},
        ),
        quiet=(CUR | NO_RESISTANCE_RX, CUR | {"aerobic_intolerant_streak": 2}),
        restrictions=R("no_resistance"),
        env={"resistance_allowed": False, "aerobic_sessions_max": 3},
    ),
    "resistance.start_ceiling_50": Case(
        fires=(
            {"resistance_experience": "novice"},
            {"resistance_experience": "none"},
            {"resistance_experience": None},
            {"sarcopenia": True},
            {"sarcopenia": None},
        ),
        quiet=({}, CUR | {"resistance_experience": "novice"}),
        env={"resistance_pct_1rm_max": 50},
    ),
    # ---------------------------------------------------------------- what restrictions mean
    "restriction.no_vigorous": Case(
        fires=({"hemoglobin_g_dl": 9}, {"metastatic_sites": "lung"}),
        quiet=({}, {"metastatic_sites": "skin"}),
        env={"aerobic_pct_hrmax_max": 76, "aerobic_rpe_max": 13, "resistance_pct_1rm_max": 69},
    ),
    "restriction.no_resistance": Case(
        fires=({"platelets_10e9_l": 30},),
        quiet=({},),
        env={"resistance_allowed": False, "resistance_sessions_max": 0},
    ),
    "resistance.load_70_unless_experienced": Case(
        fires=(
            {"metastatic_sites": "skin"},
            {"resistance_experience": "novice"},
            {"resistance_experience": None},
        ),
        quiet=({}, {"comorbidities": "diabetes"}),
        env={"resistance_pct_1rm_max": 70},
    ),
    # ---------------------------------------------------------------- conflicts
    "conflict.aerobic_infeasible": Case(
        # 1 x 5 min now: +10% allows 5.5 minutes a week, less than one 10-minute session
        fires=(CUR | {"rx_aerobic_sessions": 1, "rx_aerobic_minutes": 5},),
        quiet=(CUR,),
        env={"aerobic_sessions_max": 0, "aerobic_weekly_volume_max": 0, "total_sessions_max": 3},
    ),
    "conflict.resistance_infeasible": Case(
        # 20-25% 1RM now: +10% allows 27.5%, below the 30% minimum
        fires=(CUR | {"rx_resistance_pct_1rm_low": 20, "rx_resistance_pct_1rm_high": 25},),
        quiet=(CUR, {"platelets_10e9_l": 30}),
        restrictions=R("no_resistance"),
        env={"resistance_allowed": False, "resistance_sessions_max": 0},
    ),
}


def _facts(base: dict[str, Any], current_rx: dict[str, Any], change: dict[str, Any]) -> dict:
    change = dict(change)
    facts = dict(base)
    if change.pop("rx", None) == "current":
        facts |= current_rx
    return facts | change


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULE_IDS)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule(rule_id: str, healthy, current_rx) -> None:
    case = CASES[rule_id]
    rule = RULES.by_id(rule_id)
    base = healthy()
    for change in case.fires:
        res = gk.evaluate(_facts(base, current_rx, change))
        assert rule_id in res.rule_ids, change
        assert res.decision == case.decision, change
        fired = res.fired[res.rule_ids.index(rule_id)]
        assert fired.kind == rule.kind and fired.effect and fired.citation
        assert case.restrictions <= set(res.restrictions), change
        assert res.version == VERSION
        if res.decision == "allowed":
            assert is_consistent(res.envelope)
        else:
            assert res.envelope == EMPTY and res.restrictions == ()
    for change in case.quiet:
        res = gk.evaluate(_facts(base, current_rx, change))
        assert rule_id not in res.rule_ids, change
    first = gk.evaluate(_facts(base, current_rx, case.fires[0]))
    for name, value in case.env.items():
        assert getattr(first.envelope, name) == pytest.approx(value), name
    assert first.unknown_facts == case.unknown
    if first.decision == "allowed":  # closed-modality labels come from the final envelope
        assert gk.closure_labels(first.envelope) == set(first.restrictions) & set(gk.CLOSURE_LABELS)


def test_healthy_patient_fires_only_the_global_caps(healthy) -> None:
    res = gk.evaluate(healthy())
    assert res.decision == "allowed"
    assert all(rid.startswith("global.") for rid in res.rule_ids)
    assert res.restrictions == ()


# -------------------------------------------------------------------------------------------
# the rule file itself
# -------------------------------------------------------------------------------------------
def test_rule_file_metadata() -> None:
    raw = yaml.safe_load(gk.RULES_FILE.read_text())
    assert raw["version"] == VERSION == RULES.version
    ids = [r["id"] for r in raw["rules"]]
    assert len(ids) == len(set(ids))
    for r in raw["rules"]:
        assert r["kind"] in ("hold", "refer", "cap", "restriction", "progression")
        assert r["effect"].strip() and r["citation"].strip()
        assert "condition" in r
    kinds = [r.kind for r in RULES.rules]
    assert kinds.index("refer") > max(i for i, k in enumerate(kinds) if k == "hold")


def test_design_section_5_rules_are_all_present() -> None:
    expected = {
        "hold.platelets_below_20",
        "hold.hemoglobin_below_8",
        "hold.anc_below_0_5",
        "hold.fever",
        "hold.resting_hr_120",
        "hold.blood_pressure",
        "hold.spo2_below_88",
        "hold.vomiting_24h",
        "hold.serious_ae_7d",
        "refer.ecog_3_plus",
        "refer.bone_metastases_no_clearance",
        "refer.brain_metastases_no_clearance",
        "lymphedema.resistance_progression",
        "progression.weekly_volume_10pct",
    }
    assert expected <= set(RULE_IDS)
    assert RULES.by_id("lymphedema.resistance_progression").kind == "progression"
    assert RULES.by_id("progression.weekly_volume_10pct").kind == "progression"


def _file(rule: dict[str, Any]) -> dict[str, Any]:
    raw = yaml.safe_load(gk.RULES_FILE.read_text())
    raw["rules"].append(rule)
    return raw


GOOD = {
    "id": "x.test",
    "kind": "restriction",
    "condition": {"all": [["platelets_10e9_l", "<", 60]]},
    "restrictions": ["no_vigorous"],
    "effect": "test",
    "citation": "test",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"condition": "platelets_10e9_l < 20"}, "condition"),  # text is never evaluated
        ({"condition": ["platelet", "<", 20]}, "unknown fact"),
        ({"condition": ["platelets_10e9_l", "<<", 20]}, "numeric comparison"),
        ({"condition": ["platelets_10e9_l", "<", "20"]}, "numeric comparison"),
        ({"condition": {"has": ["metastatic_sites", "bones"]}}, "not a value"),
        ({"condition": ["treatment_phase", "==", "chemo"]}, "not a value"),
        ({"condition": ["medical_clearance", "==", "yes"]}, "yes/no"),
        ({"condition": {"ref": "nowhere"}}, "unknown definition"),
        ({"condition": {"python": "__import__('os')"}}, "unknown condition"),
        ({"restrictions": ["no_running"]}, "restrictions"),
        ({"limits": {"aerobic_pct_max": 50}}, "unknown limit"),
        ({"limits": {"aerobic_pct_hrmax_max": -5}}, "never negative"),
        ({"limits": {"resistance_allowed": True}}, "false"),
        ({"limits": {"resistance_pct_1rm_max": {"current": "ecog", "times": 1}}}, "limit"),
        ({"kind": "suggestion"}, "kind"),
        ({"citation": "  "}, "citation"),
        ({"effect": None}, "effect"),
        ({"unexpected": 1}, "unknown keys"),
        ({"id": "hold.fever"}, "duplicate"),
        ({"restrictions": [], "limits": {}}, "needs limits"),
        ({"unknown": "platelets_10e9_l"}, "list of fact names"),
        ({"unknown": ["platelets"]}, "unknown fact"),
        ({"unknown": ["metastatic_sites"]}, "not a single fact"),
        ({"kind": "hold", "restrictions": [], "unknown": ["spo2"]}, "no unknown list"),
    ],
)
def test_malformed_rules_are_rejected(change: dict[str, Any], message: str) -> None:
    with pytest.raises(gk.RuleFileError, match=message):
        gk.compile_rules(_file(GOOD | change))


def test_a_good_extra_rule_compiles_and_hold_must_come_first() -> None:
    assert gk.compile_rules(_file(GOOD)).by_id("x.test").kind == "restriction"
    with pytest.raises(gk.RuleFileError, match="hold rules come first"):
        gk.compile_rules(_file(GOOD | {"kind": "hold", "restrictions": []}))


def test_global_rules_must_set_every_bound() -> None:
    raw = yaml.safe_load(gk.RULES_FILE.read_text())
    raw["rules"] = [r for r in raw["rules"] if r["id"] != "global.weekly_volume"]
    with pytest.raises(gk.RuleFileError, match="weekly_modeq_minutes_max"):
        gk.compile_rules(raw)


# -------------------------------------------------------------------------------------------
# facts: missing values and representations
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", [None, NAN, pd.NA, float("nan"), ""])
def test_a_missing_lab_never_triggers_anything(healthy, missing) -> None:
    facts = healthy(platelets_10e9_l=missing, hemoglobin_g_dl=missing, anc_10e9_l=missing)
    assert gk.evaluate(facts).rule_ids == gk.evaluate(healthy()).rule_ids


@pytest.mark.parametrize("missing", [None, NAN, pd.NA, ""])
def test_in_the_chemo_window_a_missing_lab_is_named_and_never_looser(healthy, missing) -> None:
    """Issue #11: on chemotherapy (or within 21 days of an infusion) a missing platelet count,
    ANC, hemoglobin, temperature (ANC low or unknown), SpO2, resting heart rate (2026.12.1) or
    infusion date (the next one too, 2026.12.2) gets the most restrictive band that still allows
    exercise, and `unknown_facts` names it."""
    names = (
        "platelets_10e9_l",
        "anc_10e9_l",
        "hemoglobin_g_dl",
        "temperature_c",
        "spo2",
        "resting_hr",
    )
    facts = healthy(treatment_phase="chemotherapy", days_since_infusion=missing)
    facts |= dict.fromkeys(names, missing)
    res = gk.evaluate(facts)
    assert res.decision == "allowed"
    assert set(res.unknown_facts) == {*names, "days_since_infusion", "next_infusion_in_days"}
    assert {"no_resistance", "no_vigorous", "avoid_public_facilities", "check_temperature"} <= set(
        res.restrictions
    )
    assert res.envelope.aerobic_pct_hrmax_max == 63 and not res.envelope.resistance_allowed
    assert res.envelope.aerobic_rpe_max == 11
    worst_allowed = healthy(
        treatment_phase="chemotherapy",
        days_since_infusion=0,
        next_infusion_in_days=0,
        platelets_10e9_l=20,
        anc_10e9_l=0.51,  # 0.5 itself holds (2026.12.1)
        hemoglobin_g_dl=8,
        temperature_c=37.9,
        spo2=88,
        resting_hr=119,
    )
    known = gk.evaluate(worst_allowed)
    assert known.decision == "allowed" and known.unknown_facts == ()
    assert no_looser(res.envelope, known.envelope)
    assert set(res.restrictions) >= set(known.restrictions)


def test_lists_may_be_joined_text_or_python_lists(healthy) -> None:
    a = gk.evaluate(healthy(metastatic_sites="liver;skin", comorbidities=["lymphedema"]))
    b = gk.evaluate(healthy(metastatic_sites=["skin", "liver"], comorbidities="lymphedema"))
    assert a == b
    assert {"metastasis.liver", "metastasis.skin"} <= set(a.rule_ids)


def test_unknown_facts_are_ignored_and_numpy_values_accepted(healthy) -> None:
    np = pytest.importorskip("numpy")
    res = gk.evaluate(
        healthy(platelets_10e9_l=np.float64(30.0), ecog=np.int64(1), vomiting_24h=np.bool_(False))
        | {"true_fitness": 3.0}
    )
    assert res.decision == "allowed" and "labs.platelets_20_50" in res.rule_ids


def test_limited_by_names_the_binding_rule(healthy) -> None:
    res = gk.evaluate(healthy(platelets_10e9_l=30, metastatic_sites="liver"))
    assert res.envelope.aerobic_pct_hrmax_max == 63
    assert res.limited_by["aerobic_pct_hrmax_max"] in ("labs.platelets_20_50", "metastasis.liver")
    assert res.limited_by["aerobic_minutes_max"] == "metastasis.liver"


def test_closed_modality_labels_follow_the_final_envelope(healthy, current_rx) -> None:
    """Issue #11 item 4: `no_resistance` / `no_aerobic` / `no_vigorous` are present exactly when the
    final envelope closes the modality or every vigorous dose, whichever rule closed it."""
    # the counterexample of test_c_worsening_never_loosens (stop 8): lymphedema, experienced,
    # post-treatment, a current dose; no progression (moderate AE) closes resistance before the
    # conflict rule could, which then stayed quiet and the label went missing.
    rx = current_rx | {"rx_resistance_pct_1rm_low": 20.0, "rx_resistance_pct_1rm_high": 25.0}
    before = gk.evaluate(healthy(comorbidities="lymphedema") | rx)
    after = gk.evaluate(
        healthy(comorbidities="lymphedema", moderate_ae_7d=1, resistance_moderate_ae_7d=1) | rx
    )
    for res in (before, after):
        assert not res.envelope.resistance_allowed and "no_resistance" in res.restrictions
    # a closure nobody labelled: the label is derived, and its meaning rule then applies
    res = gk.evaluate(healthy(aerobic_moderate_ae_7d=1, moderate_ae_7d=1) | current_rx)
    assert res.envelope.aerobic_pct_hrmax_max == 68 and res.envelope.resistance_pct_1rm_max == 55
    assert "no_vigorous" in res.restrictions and "restriction.no_vigorous" in res.rule_ids
    assert res.envelope.aerobic_rpe_max == 13
    # vigorous stays open for the eligible: no label
    res = gk.evaluate(healthy())
    assert not set(res.restrictions) & set(gk.CLOSURE_LABELS)


def test_hold_lists_refer_rules_too(healthy) -> None:
    res = gk.evaluate(healthy(ecog=4, temperature_c=38.5))
    assert res.decision == "hold"
    assert res.rule_ids == ("hold.fever", "refer.ecog_3_plus")
    assert gk.clamp_prescription(None, res) is None
