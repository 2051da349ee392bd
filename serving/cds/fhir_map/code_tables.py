"""The documented code tables of the mapping (ICD-10, SNOMED, LOINC; see the package docstring)
and the unit conversions of the quantities read into the contract's units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ACTIVE_TREATMENT_DAYS = 28
MAX_INFUSION_AGE_DAYS = 365

REQUIRED_FIELDS = (
    "age",
    "sex",
    "height_cm",
    "weight_kg",
    "cancer_type",
    "stage",
    "treatment_phase",
    "ecog",
)

# --- documented tables -------------------------------------------------------------------------
CANCER_ICD10: tuple[tuple[tuple[str, str], str], ...] = (
    (("C50", "C50"), "breast"),
    (("C61", "C61"), "prostate"),
    (("C18", "C20"), "colorectal"),
    (("C33", "C34"), "lung"),
    (("C81", "C96"), "hematologic"),
    (("C51", "C58"), "gynecologic"),
    (("C00", "C14"), "head_neck"),
    (("C30", "C32"), "head_neck"),
)
CANCER_SNOMED = {
    "254837009": "breast",  # malignant neoplasm of breast
    "399068003": "prostate",  # malignant tumor of prostate
    "363406005": "colorectal",  # malignant neoplasm of colon
    "363351006": "colorectal",  # malignant neoplasm of rectum
    "363358000": "lung",  # malignant tumor of lung
    "254637007": "lung",  # non-small cell lung cancer
    "254632001": "lung",  # small cell carcinoma of lung
    "93143009": "hematologic",  # leukaemia
    "118600007": "hematologic",  # malignant lymphoma
    "109989006": "hematologic",  # multiple myeloma
    "363443007": "gynecologic",  # malignant tumor of ovary
}
SECONDARY_SNOMED = {"128462008", "94225005", "94222008", "94381002", "94391008", "94297009"}
SITE_SNOMED = {
    "3138006": "bone",
    "272673000": "bone",
    "39607008": "lung",
    "10200004": "liver",
    "12738006": "brain",
    "59441001": "lymph_node",
    "39937001": "skin",
    "122865005": "gi",
    "71854001": "gi",  # colon
    "69695003": "gi",  # stomach
}
# secondary-cancer diagnosis codes that name their site (SNOMED findings and ICD-10)
SITE_OF_SECONDARY_SNOMED = {
    "94222008": "bone",
    "94391008": "lung",
    "94381002": "liver",
    "94225005": "brain",
    "94297009": "lymph_node",
}
SITE_ICD10 = (
    ("C77", "lymph_node"),
    ("C78.0", "lung"),
    ("C78.1", "lung"),
    ("C78.2", "lung"),
    ("C78.4", "gi"),
    ("C78.5", "gi"),
    ("C78.6", "gi"),
    ("C78.7", "liver"),
    ("C79.2", "skin"),
    ("C79.3", "brain"),
    ("C79.5", "bone"),
)
COMORBIDITY_ICD10 = (
    (("I20", "I52"), "cardiovascular_disease"),
    (("E10", "E14"), "diabetes"),
    (("M80", "M81"), "osteoporosis"),
    (("G62", "G63"), "peripheral_neuropathy"),
    (("I89.0", "I89.0"), "lymphedema"),
    (("I97.2", "I97.2"), "lymphedema"),
    (("J44", "J44"), "copd"),
    (("M15", "M19"), "arthritis"),
    (("Z93", "Z93"), "ostomy"),
)
ECOG_ANSWERS = {"LA9622-7": 0, "LA9623-5": 1, "LA9624-3": 2, "LA9625-0": 3, "LA9626-8": 4}
# Borg CR10 (0-10) -> Borg RPE 6-20; between listed points, linear interpolation, then rounded.
BORG_CR10_TO_RPE: tuple[tuple[float, int], ...] = (
    (0.0, 6),
    (0.5, 7),
    (1.0, 8),
    (2.0, 10),
    (3.0, 12),
    (4.0, 13),
    (5.0, 14),
    (6.0, 15),
    (7.0, 17),
    (8.0, 18),
    (9.0, 19),
    (10.0, 20),
)
RADIOTHERAPY_SNOMED = {"108290001", "1217123003"}
SURGERY_CATEGORY = "387713003"

# observation code -> (contract path, converter of (value, unit) -> contract unit or None)
Converter = Any


def unit_of(q: Mapping[str, Any]) -> str:
    return str(q.get("code") or q.get("unit") or "").strip()


def _count_10e9(v: float, u: str) -> float | None:
    norm = u.replace(" ", "").lower()
    if norm in {
        "10*3/ul",
        "10*9/l",
        "10^9/l",
        "10^3/ul",
        "x10e3/ul",
        "k/ul",
        "thou/ul",
        "10.e3/ul",
    }:
        return v
    if norm in {"/ul", "{cells}/ul", "cells/ul"}:
        return v / 1000
    return None


def _hgb(v: float, u: str) -> float | None:
    norm = u.lower()
    if norm in {"g/dl"}:
        return v
    if norm == "g/l":
        return v / 10
    if norm == "mmol/l":
        return v * 1.611
    return None


def _same(*units: str):
    allowed = {x.lower() for x in units}

    def conv(v: float, u: str) -> float | None:
        return v if u.lower() in allowed else None

    return conv


def _temp(v: float, u: str) -> float | None:
    if u in ("Cel", "C", "°C"):
        return v
    if u in ("[degF]", "F", "°F"):
        return (v - 32) * 5 / 9
    return None


def _weight(v: float, u: str) -> float | None:
    return {"kg": v, "g": v / 1000, "[lb_av]": v * 0.45359237, "lb": v * 0.45359237}.get(u)


def _height(v: float, u: str) -> float | None:
    return {"cm": v, "m": v * 100, "[in_i]": v * 2.54, "in": v * 2.54}.get(u)


QUANTITIES: dict[str, tuple[str, Converter]] = {
    "777-3": ("labs.platelets_10e9_l", _count_10e9),
    "751-8": ("labs.anc_10e9_l", _count_10e9),
    "718-7": ("labs.hemoglobin_g_dl", _hgb),
    "8867-4": ("vitals.resting_hr", _same("/min", "{beats}/min", "bpm")),
    "8480-6": ("vitals.systolic_bp", _same("mm[Hg]", "mmHg")),
    "8462-4": ("vitals.diastolic_bp", _same("mm[Hg]", "mmHg")),
    "59408-5": ("vitals.spo2", _same("%")),
    "8310-5": ("vitals.temperature_c", _temp),
    "29463-7": ("weight_kg", _weight),
    "8302-2": ("height_cm", _height),
}
BP_PANEL = "85354-9"
# Symptom scores 0-10 the kernel reads as today's (symptoms.*): only a score of the last
# SYMPTOM_DAYS days counts (the kernel reads in-session scores over the same 7 days). Pain:
# "Pain severity - 0-10 verbal numeric rating [Score] - Reported". Fatigue has no standard LOINC
# 0-10 score: it is read only from a site's own code (Settings.cds_symptom_codes), else it stays
# unknown (the kernel's symptomatic-day band). (system, code, contract field)
SYMPTOM_SCORES: tuple[tuple[str, str, str], ...] = ((LOINC, "72514-3", "symptoms.pain"),)
SYMPTOM_DAYS = 7
# A chemotherapy infusion still to come: an Appointment coded (serviceType, appointmentType,
# serviceCategory or reasonCode) SNOMED 367336001 "Chemotherapy (procedure)" or 385786002
# "Chemotherapy care", in any status short of cancelled, no-show, fulfilled or entered in error
# (FHIR R4 AppointmentStatus): the soonest is the strictest reading, since a nearer infusion
# never loosens the dose.
INFUSION_APPOINTMENT_SNOMED = frozenset({"367336001", "385786002"})
UPCOMING_APPOINTMENT = frozenset(
    {"proposed", "pending", "booked", "arrived", "checked-in", "waitlist"}
)
STAGE_CODES = ("21908-9", "21902-2")
ECOG_CODE = "89247-1"
ACTIVITY_CODE = "73985-4"
DURATION_CODE = "55411-3"
MEAN_HR_CODE = "55425-3"
RPE_CODE = "82289-0"
PA_PANEL_CODE = "PAPanel"
