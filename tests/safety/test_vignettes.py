"""Clinical vignettes, written from shared/reference/guidelines.md, through the REST objects.

Each test is one person as a clinician would describe them; its name and docstring give the rule
it exercises. Patients are built as `features.contract.rest.Patient` and turned into facts with
`facts_from_request`, the path REST takes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from features.contract.rest import (
    AerobicDose,
    IntRange,
    Patient,
    Prescription,
    Range,
    RecommendRequest,
    ResistanceDose,
)
from serving.guidelines import kernel as gk
from serving.guidelines.envelope import EMPTY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VERSION = "2026.12.7"


def patient(**kw: Any) -> Patient:
    """A 57-year-old woman with stage II breast cancer after treatment, ECOG 0, all values normal,
    her surgery 200 days ago; keyword arguments override top-level fields, and vitals / labs /
    symptoms entries. On chemotherapy with a last infusion given and no next one, the next is
    the 21-day cycle's (the clinic knows the schedule; a missing date is v59b's subject)."""
    nested = {
        "vitals": {
            "resting_hr": 72,
            "systolic_bp": 122,
            "diastolic_bp": 78,
            "spo2": 98,
            "temperature_c": 36.7,
        },
        "labs": {
            "hemoglobin_g_dl": 12.8,
            "platelets_10e9_l": 240,
            "anc_10e9_l": 3.9,
            "glucose_mg_dl": None,
        },
        "symptoms": {"fatigue": 3, "pain": 1, "vomiting_24h": False},
    }
    base: dict[str, Any] = {
        "patient_id": "vignette",
        "age": 57,
        "sex": "female",
        "height_cm": 164,
        "weight_kg": 70,
        "cancer_type": "breast",
        "stage": "II",
        "treatment_phase": "post_treatment",
        "ecog": 0,
        "resistance_experience": "novice",
        "sarcopenia": False,
        "cardiotoxic_therapy": False,  # known: vigorous work is a grant (2026.12.1)
        "recent_surgery_days": 200,  # known: a blank reads as surgery < 12 weeks ago (2026.12.2)
    }
    days = kw.get("days_since_infusion")
    if kw.get("treatment_phase") == "chemotherapy" and days is not None and days <= 21:
        kw.setdefault("next_infusion_in_days", 21 - days)
    for key, value in kw.items():
        for group in nested.values():
            if key in group:
                group[key] = value
                break
        else:
            base[key] = value
    return Patient(**base, **nested)


def rx(
    a_sessions: int = 3,
    a_minutes: float = 30,
    a_pct: tuple[float, float] = (64, 68),
    r_sessions: int | None = 2,
    r_pct: tuple[float, float] = (45, 50),
    restrictions: tuple[str, ...] = (),
) -> Prescription:
    aerobic = AerobicDose(
        sessions_per_week=a_sessions,
        minutes_per_session=a_minutes,
        intensity_pct_hrmax=Range(low=a_pct[0], high=a_pct[1]),
        rpe=IntRange(low=12, high=13),
    )
    resistance = None
    if r_sessions is not None:
        resistance = ResistanceDose(
            sessions_per_week=r_sessions,
            sets=2,
            reps=IntRange(low=10, high=12),
            intensity_pct_1rm=Range(low=r_pct[0], high=r_pct[1]),
        )
    return Prescription(aerobic=aerobic, resistance=resistance, restrictions=list(restrictions))


# A vignette patient has completed the sessions of the last 14 days unless `history` says
# otherwise: kernel 2026.12.5 holds a dose nobody was seen to complete (v78, v79).
DONE = {"aerobic_completion_rate_14d": 1.0, "resistance_completion_rate_14d": 1.0}


def kernel(p: Patient, current: Prescription | None = None, **history: Any) -> gk.KernelResult:
    return gk.evaluate(gk.facts_from_request(p, current, DONE | history))


def assert_no_dose(res: gk.KernelResult, decision: str, rule_id: str) -> None:
    assert res.decision == decision
    assert rule_id in res.rule_ids
    assert res.envelope == EMPTY
    assert gk.clamp_prescription(rx(), res) is None
    assert gk.check_prescription(rx(), res)  # any dose is a violation


# ---------------------------------------------------------------------------- holds
def test_v01_breast_day3_platelets_35__labs_platelets_20_50() -> None:
    """57-y breast cancer, day 3 after infusion, platelets 35 -> no resistance, aerobic <= 63%."""
    res = kernel(
        patient(treatment_phase="chemotherapy", days_since_infusion=3, platelets_10e9_l=35)
    )
    assert res.decision == "allowed"
    assert "labs.platelets_20_50" in res.rule_ids
    assert "no_resistance" in res.restrictions
    assert not res.envelope.resistance_allowed
    assert res.envelope.aerobic_pct_hrmax_max == 63
    clamped = gk.clamp_prescription(rx(a_pct=(70, 76)), res)
    assert clamped is not None and clamped.resistance is None
    assert clamped.aerobic is not None and clamped.aerobic.intensity_pct_hrmax.high == 63


def test_v02_leukaemia_platelets_12__hold_platelets_below_20() -> None:
    """68-y man with leukaemia in induction, platelets 12 -> hold (bleeding risk)."""
    p = patient(
        sex="male",
        age=68,
        cancer_type="hematologic",
        treatment_phase="chemotherapy",
        days_since_infusion=8,
        platelets_10e9_l=12,
    )
    assert_no_dose(kernel(p), "hold", "hold.platelets_below_20")


def test_v03_colorectal_anaemia_hb_7_4__hold_hemoglobin_below_8() -> None:
    """62-y colorectal cancer on FOLFOX, Hb 7.4 g/dL -> hold (AHA CORE exclusion)."""
    p = patient(
        cancer_type="colorectal",
        treatment_phase="chemotherapy",
        days_since_infusion=10,
        hemoglobin_g_dl=7.4,
    )
    assert_no_dose(kernel(p), "hold", "hold.hemoglobin_below_8")


def test_v04_lymphoma_neutropenic_anc_0_3__hold_anc_below_0_5() -> None:
    """45-y lymphoma, nadir ANC 0.3 -> hold (infection risk)."""
    p = patient(
        age=45,
        cancer_type="hematologic",
        treatment_phase="chemotherapy",
        days_since_infusion=9,
        anc_10e9_l=0.3,
    )
    assert_no_dose(kernel(p), "hold", "hold.anc_below_0_5")


def test_v05_febrile_38_4_after_chemo__hold_fever() -> None:
    """51-y breast cancer, 38.4 C the morning of the session -> hold (acute infection)."""
    assert_no_dose(kernel(patient(temperature_c=38.4)), "hold", "hold.fever")


def test_v06_resting_tachycardia_124__hold_resting_hr_120() -> None:
    """70-y prostate cancer on ADT, resting HR 124 -> hold for medical review (TREK)."""
    p = patient(
        sex="male",
        age=70,
        cancer_type="prostate",
        treatment_phase="hormone_therapy",
        resting_hr=124,
    )
    assert_no_dose(kernel(p), "hold", "hold.resting_hr_120")


def test_v07_hypertensive_210_over_95__hold_blood_pressure() -> None:
    """66-y head and neck cancer, BP 210/95 -> hold (SBP > 200)."""
    p = patient(cancer_type="head_neck", systolic_bp=210, diastolic_bp=95)
    assert_no_dose(kernel(p), "hold", "hold.blood_pressure")


def test_v08_diastolic_115__hold_blood_pressure() -> None:
    """59-y gynaecologic cancer, BP 180/115 -> hold (DBP > 110)."""
    p = patient(cancer_type="gynecologic", systolic_bp=180, diastolic_bp=115)
    assert_no_dose(kernel(p), "hold", "hold.blood_pressure")


def test_v09_lung_cancer_spo2_86__hold_spo2_below_88() -> None:
    """73-y NSCLC with COPD, SpO2 86% at rest -> hold."""
    p = patient(age=73, cancer_type="lung", comorbidities=["copd"], spo2=86, ecog=1)
    assert_no_dose(kernel(p), "hold", "hold.spo2_below_88")


def test_v10_vomiting_since_yesterday__hold_vomiting_24h() -> None:
    """48-y breast cancer, day 1 after AC, vomited last night -> hold (Gilchrist 2019)."""
    p = patient(age=48, treatment_phase="chemotherapy", days_since_infusion=1, vomiting_24h=True)
    assert_no_dose(kernel(p), "hold", "hold.vomiting_24h")


def test_v11_syncope_during_session_last_week__hold_serious_ae_7d() -> None:
    """64-y colorectal cancer, fainted during a session 4 days ago (serious AE) -> hold."""
    res = kernel(patient(cancer_type="colorectal"), rx(), serious_ae_7d=1, moderate_ae_7d=1)
    assert_no_dose(res, "hold", "hold.serious_ae_7d")


def test_v12_spo2_92_is_not_a_hold__hold_spo2_below_88() -> None:
    """70-y lung cancer, SpO2 92% (TREK: 88-94 exercise as tolerated) -> allowed, no hold."""
    res = kernel(patient(age=70, cancer_type="lung", spo2=92))
    assert res.decision == "allowed" and "hold.spo2_below_88" not in res.rule_ids


# ---------------------------------------------------------------------------- refer
def test_v13_bedbound_ecog_3__refer_ecog_3_plus() -> None:
    """77-y pancreatic ('other') cancer, in bed most of the day (ECOG 3) -> refer to rehab."""
    p = patient(age=77, cancer_type="other", stage="IV", treatment_phase="palliative", ecog=3)
    assert_no_dose(kernel(p), "refer", "refer.ecog_3_plus")


def test_v14_ecog_4_with_fever__hold_fever_and_refer_ecog_3_plus() -> None:
    """80-y, ECOG 4 and febrile -> hold wins over refer; both rules reported."""
    res = kernel(patient(age=80, ecog=4, temperature_c=38.9))
    assert_no_dose(res, "hold", "hold.fever")
    assert "refer.ecog_3_plus" in res.rule_ids


def test_v15_prostate_bone_mets_no_clearance__refer_bone_metastases_no_clearance() -> None:
    """71-y prostate cancer, spinal bone metastases, no documented clearance -> refer."""
    p = patient(
        sex="male",
        age=71,
        cancer_type="prostate",
        stage="IV",
        metastatic_sites=["bone"],
        treatment_phase="hormone_therapy",
        ecog=1,
    )
    assert_no_dose(kernel(p), "refer", "refer.bone_metastases_no_clearance")


def test_v16_brain_mets_no_clearance__refer_brain_metastases_no_clearance() -> None:
    """55-y lung cancer, brain metastases after radiosurgery, no clearance -> refer."""
    p = patient(age=55, cancer_type="lung", stage="IV", metastatic_sites=["brain"], ecog=1)
    assert_no_dose(kernel(p), "refer", "refer.brain_metastases_no_clearance")


# ---------------------------------------------------------------------------- caps
def test_v17_fit_survivor__aerobic_intensity_76_unless_eligible_not_fired() -> None:
    """45-y breast cancer survivor, ECOG 0, 2 years after treatment -> may go up to 85% HRmax."""
    res = kernel(patient(age=45, resistance_experience="experienced"))
    assert "aerobic.intensity_76_unless_eligible" not in res.rule_ids
    assert res.envelope.aerobic_pct_hrmax_max == 85
    assert res.envelope.resistance_pct_1rm_max == 80  # experienced, no restriction


def test_v18_ecog_0_day_2_after_infusion__aerobic_intensity_76_unless_eligible() -> None:
    """50-y breast cancer, ECOG 0, 2 days after infusion -> no vigorous (Kirkham periodisation)."""
    res = kernel(patient(age=50, treatment_phase="chemotherapy", days_since_infusion=2))
    assert "aerobic.intensity_76_unless_eligible" in res.rule_ids
    assert res.envelope.aerobic_pct_hrmax_max == 76


def test_v19_heart_disease_without_clearance__aerobic_intensity_76_unless_eligible() -> None:
    """60-y prostate cancer with coronary disease, ECOG 0: 76% without clearance, 85% with."""
    kw = dict(sex="male", age=60, cancer_type="prostate", comorbidities=["cardiovascular_disease"])
    assert kernel(patient(**kw)).envelope.aerobic_pct_hrmax_max == 76
    assert kernel(patient(**kw, medical_clearance=True)).envelope.aerobic_pct_hrmax_max == 85


def test_v20_neutropenia_anc_1_1__labs_anc_0_5_to_1_5() -> None:
    """39-y lymphoma, ANC 1.1 -> avoid public gyms and pools, no vigorous (TREK)."""
    res = kernel(patient(age=39, cancer_type="hematologic", anc_10e9_l=1.1))
    assert {"avoid_public_facilities", "no_vigorous"} <= set(res.restrictions)
    assert res.envelope.aerobic_pct_hrmax_max <= 76


def test_v21_hb_9_2__labs_hemoglobin_8_to_10() -> None:
    """58-y colorectal cancer, Hb 9.2 g/dL -> no vigorous; resistance at most 69% 1RM."""
    res = kernel(
        patient(cancer_type="colorectal", hemoglobin_g_dl=9.2, resistance_experience="experienced")
    )
    assert "labs.hemoglobin_8_to_10" in res.rule_ids and "no_vigorous" in res.restrictions
    assert res.envelope.aerobic_pct_hrmax_max == 76
    assert res.envelope.resistance_pct_1rm_max <= 69


def test_v22_resting_hr_108__vitals_resting_hr_100_to_119() -> None:
    """52-y breast cancer on trastuzumab, resting HR 108 -> no vigorous."""
    res = kernel(patient(age=52, treatment_phase="targeted_therapy", resting_hr=108))
    assert "vitals.resting_hr_100_to_119" in res.rule_ids and "no_vigorous" in res.restrictions


def test_v23_ecog_2__ecog_2_light_moderate() -> None:
    """69-y lung cancer, up and about but unable to work (ECOG 2) -> <= 30 min, no vigorous."""
    res = kernel(patient(age=69, cancer_type="lung", ecog=2))
    assert "ecog.2_light_moderate" in res.rule_ids
    assert res.envelope.aerobic_minutes_max == 30
    clamped = gk.clamp_prescription(rx(a_minutes=45), res)
    assert clamped is not None and clamped.aerobic is not None
    assert clamped.aerobic.minutes_per_session == 30


# ---------------------------------------------------------------------------- metastases
def test_v24_cleared_bone_mets__metastasis_bone() -> None:
    """66-y breast cancer, cleared pelvic bone metastases assessed at low fracture risk, no
    neurological symptoms -> no impact or spinal loading, supervised resistance at most 60% 1RM
    (Campbell 2019 / 2022). With the neurological symptoms not recorded (their presence would
    refer) -> the unassessed band: supervised only, resistance at most 50% (2026.12.1)."""
    facts = dict(
        age=66,
        stage="IV",
        metastatic_sites=["bone"],
        medical_clearance=True,
        bone_fracture_risk="low",
        ecog=1,
        resistance_experience="experienced",
    )
    res = kernel(patient(**facts, neurological_symptoms=False), rx(r_pct=(55, 58)))
    assert "metastasis.bone" in res.rule_ids
    assert {"no_high_impact", "no_spinal_loading", "supervised_resistance"} <= set(res.restrictions)
    assert res.envelope.resistance_pct_1rm_max == 60
    blank = kernel(patient(**facts), rx(r_pct=(55, 58)))
    assert "unknown.bone_metastases_neurological" in blank.rule_ids
    assert blank.unknown_facts == ("neurological_symptoms",)
    assert "supervised_only" in blank.restrictions and blank.envelope.resistance_pct_1rm_max == 50


def test_v25_lung_mets__metastasis_lung() -> None:
    """61-y colorectal cancer with lung metastases -> no vigorous."""
    res = kernel(patient(cancer_type="colorectal", stage="IV", metastatic_sites=["lung"]))
    assert "metastasis.lung" in res.rule_ids and "no_vigorous" in res.restrictions


def test_v26_liver_mets__metastasis_liver() -> None:
    """63-y colorectal cancer with liver metastases -> low intensity, brief (<= 63%, RPE <= 11,
    <= 30 min); resistance light too (<= 50% 1RM; 2026.12.1: an experienced patient at 66% 1RM
    could step to 72.6%, vigorous)."""
    res = kernel(
        patient(
            cancer_type="colorectal",
            stage="IV",
            metastatic_sites=["liver"],
            resistance_experience="experienced",
        ),
        rx(r_pct=(62, 66)),
    )
    assert res.envelope.aerobic_pct_hrmax_max == 63 and res.envelope.aerobic_rpe_max == 11
    assert res.envelope.aerobic_minutes_max == 30
    assert res.envelope.resistance_pct_1rm_max == 50


def test_v27_cleared_brain_mets__metastasis_brain() -> None:
    """54-y melanoma ('other'), treated brain metastases, cleared -> supervised only, balance."""
    res = kernel(
        patient(
            age=54,
            cancer_type="other",
            stage="IV",
            metastatic_sites=["brain"],
            medical_clearance=True,
        )
    )
    assert {"supervised_only", "balance_focus", "no_vigorous"} <= set(res.restrictions)


def test_v28_skin_mets__metastasis_skin() -> None:
    """67-y breast cancer with skin nodules -> low friction (tai chi, gentle yoga)."""
    res = kernel(patient(age=67, stage="IV", metastatic_sites=["skin"]))
    assert "low_friction" in res.restrictions


def test_v29_peritoneal_gi_mets__metastasis_gi() -> None:
    """58-y gastric ('other') cancer with GI metastases -> light resistance <= 50% 1RM."""
    res = kernel(
        patient(
            cancer_type="other",
            stage="IV",
            metastatic_sites=["gi"],
            resistance_experience="experienced",
        ),
        rx(r_pct=(45, 50)),
    )
    assert res.envelope.resistance_pct_1rm_max == 50 and "no_vigorous" in res.restrictions


def history_of(req: RecommendRequest) -> dict[str, Any]:
    """The kernel's history facts from the request's own sessions, as REST computes them."""
    import pandas as pd

    from features.contract.convert import requests_to_columns
    from features.pipeline import build_rows

    p_cols, s_cols = requests_to_columns([req])
    row = build_rows(p_cols, s_cols, pd.Timestamp(req.as_of)).frame().iloc[0]
    return {k: float(row[k]) for k in gk.HISTORY_FACTS}


def test_v30_contract_example_lymphedema__lymphedema_resistance_progression() -> None:
    """The contract's example: breast cancer with lymphedema, on 2 x 45-50% 1RM, its two
    resistance sessions of the last 14 days tolerated -> supervised_resistance, load at most +5%
    (52.5%), aerobic volume at most +10% (99 min), once the two dates the example predates
    (contract 2026-11-30) are given: its next infusion (day 9 of a 21-day cycle: in 12 days) and
    its surgery (200 days ago). v30b: without them; v30c: without its sessions."""
    req = RecommendRequest.model_validate(
        json.loads((FIXTURES / "recommend-request.json").read_text())
    )
    dates = {"next_infusion_in_days": 12, "recent_surgery_days": 200}
    history = history_of(req)
    assert history["resistance_tolerated_rate_14d"] == 1.0
    assert history["resistance_moderate_ae_14d"] == 0
    res = kernel(req.patient.model_copy(update=dates), req.current_prescription, **history)
    assert "lymphedema.resistance_held_until_symptom_free" not in res.rule_ids
    assert {"lymphedema.resistance_progression", "progression.weekly_volume_10pct"} <= set(
        res.rule_ids
    )
    assert "supervised_resistance" in res.restrictions
    assert "no_vigorous" in res.restrictions  # ECOG 1 and 52.5% 1RM: no vigorous dose fits
    assert res.envelope.resistance_pct_1rm_max == pytest.approx(52.5)
    assert res.envelope.aerobic_weekly_volume_max == pytest.approx(99)
    assert res.version == VERSION
    assert res.unknown_facts == ()  # on chemotherapy, but every lab, vital and date is given
    # the example response's prescription is inside the envelope; the old one lacks a restriction
    response = json.loads((FIXTURES / "recommend-response.json").read_text())
    assert gk.check_prescription(Prescription.model_validate(response["prescription"]), res) == []
    problems = gk.check_prescription(req.current_prescription, res)
    assert problems == ["missing required restrictions: no_vigorous, supervised_resistance"]
    fixed = gk.clamp_prescription(req.current_prescription, res)
    assert fixed is not None and gk.check_prescription(fixed, res) == []


def test_v30c_contract_example_without_sessions__lymphedema_resistance_held() -> None:
    """The contract's example with its dates but no sessions (2026.12.4): nothing shows 1-2
    symptom-free weeks of resistance training, so the load is held at the current 50% 1RM
    (and sessions and sets at 2 x 2) while aerobic still progresses; the same with a resistance
    session of the last 14 days not tolerated, or with a moderate adverse event in one (PAL)."""
    req = RecommendRequest.model_validate(
        json.loads((FIXTURES / "recommend-request.json").read_text())
    )
    p = req.patient.model_copy(update={"next_infusion_in_days": 12, "recent_surgery_days": 200})
    clean = history_of(req)
    for history in (
        {},
        clean | {"resistance_tolerated_rate_14d": 0.5},
        clean | {"resistance_moderate_ae_14d": 1},
    ):
        res = kernel(p, req.current_prescription, **history)
        assert "lymphedema.resistance_held_until_symptom_free" in res.rule_ids, history
        env = res.envelope
        assert env.resistance_pct_1rm_max == 50 and env.resistance_pct_1rm_progression_max == 50
        assert env.resistance_sessions_max == 2 and env.resistance_sets_max == 2
        assert env.aerobic_weekly_volume_max == pytest.approx(99)
    # without lymphedema the same records progress resistance at +10%
    other = p.model_copy(update={"comorbidities": []})
    unclean = clean | {"resistance_tolerated_rate_14d": 0.5}
    res = kernel(other, req.current_prescription, **unclean)
    assert res.envelope.resistance_pct_1rm_max == pytest.approx(55)


def test_v30b_contract_example_as_sent__unknown_next_infusion_and_surgery() -> None:
    """The contract's example as sent (2026.12.2): on chemotherapy with no next-infusion date and
    no surgery date, each reads as its worst value that still allows exercise - the infusion day
    (aerobic <= 63% HRmax, RPE <= 11; resistance <= 50% 1RM) and surgery under 12 weeks ago
    (resistance <= 50% 1RM) - and both are named. The example response (64-68% HRmax) is then
    outside the envelope, and the clamp brings it in."""
    req = RecommendRequest.model_validate(
        json.loads((FIXTURES / "recommend-request.json").read_text())
    )
    res = kernel(req.patient, req.current_prescription)
    assert res.decision == "allowed"
    assert res.unknown_facts == ("next_infusion_in_days", "recent_surgery_days")
    assert {"unknown.next_infusion_in_days", "unknown.recent_surgery_days"} <= set(res.rule_ids)
    env = res.envelope
    assert env.aerobic_pct_hrmax_max == 63 and env.aerobic_rpe_max == 11
    assert env.resistance_pct_1rm_max == 50
    response = json.loads((FIXTURES / "recommend-response.json").read_text())
    example = Prescription.model_validate(response["prescription"])
    assert gk.check_prescription(example, res)
    fixed = gk.clamp_prescription(example, res)
    assert fixed is not None and gk.check_prescription(fixed, res) == []


def test_v31_lymph_node_mets_new_patient__lymphedema_resistance_progression() -> None:
    """50-y head and neck cancer with nodal metastases, no current dose -> supervised resistance;
    without a current load the 5% step does not apply (starting ceiling 50% does)."""
    res = kernel(patient(age=50, cancer_type="head_neck", metastatic_sites=["lymph_node"]))
    assert "supervised_resistance" in res.restrictions
    assert res.envelope.resistance_pct_1rm_max == 50


# ---------------------------------------------------------------------------- comorbidity etc.
def test_v32_neuropathy_after_taxane__comorbidity_peripheral_neuropathy() -> None:
    """56-y breast cancer with taxane neuropathy -> stationary modes, balance first."""
    res = kernel(patient(age=56, comorbidities=["peripheral_neuropathy"]))
    assert {"stationary_modes_only", "balance_focus"} <= set(res.restrictions)


def test_v33_during_radiotherapy__treatment_radiotherapy() -> None:
    """60-y breast cancer in week 3 of radiotherapy -> no chlorinated pools."""
    res = kernel(patient(age=60, treatment_phase="radiotherapy"))
    assert "no_chlorinated_pools" in res.restrictions


def test_v34_novice_starting__resistance_start_ceiling_50() -> None:
    """65-y colorectal survivor who has never lifted, first prescription -> at most 50% 1RM."""
    res = kernel(patient(age=65, cancer_type="colorectal", resistance_experience="none"))
    assert "resistance.start_ceiling_50" in res.rule_ids
    assert res.envelope.resistance_pct_1rm_max == 50


def test_v35_sarcopenic_experienced_lifter__resistance_start_ceiling_50() -> None:
    """72-y man, former lifter, CT-defined sarcopenia, first prescription -> at most 50% 1RM."""
    res = kernel(patient(sex="male", age=72, resistance_experience="experienced", sarcopenia=True))
    assert res.envelope.resistance_pct_1rm_max == 50


def test_v36_novice_after_start__resistance_load_70_unless_experienced() -> None:
    """Same novice 8 weeks later at 60-65% 1RM -> +10% but never above 70% 1RM."""
    res = kernel(patient(age=65, cancer_type="colorectal"), rx(r_pct=(60, 65)))
    assert "resistance.start_ceiling_50" not in res.rule_ids
    assert res.envelope.resistance_pct_1rm_max == 70  # min(71.5 progression, 70 novice)
    assert res.limited_by["resistance_pct_1rm_max"] == "resistance.load_70_unless_experienced"


# ---------------------------------------------------------------------------- progression
def test_v37_tolerating_well__progression_weekly_volume_10pct() -> None:
    """57-y breast cancer tolerating 3 x 30 min -> next week at most 99 min; 3 x 40 is flagged."""
    res = kernel(patient(), rx())
    assert res.envelope.aerobic_weekly_volume_max == pytest.approx(99)
    assert gk.check_prescription(rx(a_minutes=33), res) == []
    assert gk.check_prescription(rx(a_minutes=40), res)


def test_v37b_light_week_after_symptoms__progression_steps_from_the_tolerated_record() -> None:
    """2026.12.3: same patient, last week cut to 3 x 10 min at 60-63% and 40-45% 1RM on a
    symptomatic day; the 4 weeks before, she completed and tolerated 90 min a week and 50% 1RM.
    -> this week up to 99 min and 55% 1RM again (+10% of the record), not 33 min and 49.5%."""
    light = rx(a_minutes=10, a_pct=(60, 63), r_pct=(40, 45))
    record = dict(aerobic_tolerated_weekly_minutes_28d=90, resistance_tolerated_pct_1rm_28d=50)
    res = kernel(patient(), light, **record)
    assert res.envelope.aerobic_weekly_volume_max == pytest.approx(99)
    assert res.envelope.resistance_pct_1rm_max == pytest.approx(55)
    assert res.limited_by["aerobic_weekly_volume_max"] == "progression.weekly_volume_10pct"
    assert gk.check_prescription(rx(a_minutes=33), res) == []
    assert gk.check_prescription(rx(a_minutes=34), res)  # 102 min > 99
    # no record, a record below the light week, or an unknown one: +10% of the light week
    for weaker in ({}, dict(aerobic_tolerated_weekly_minutes_28d=20,
                            resistance_tolerated_pct_1rm_28d=40),
                   dict(aerobic_tolerated_weekly_minutes_28d=None,
                        resistance_tolerated_pct_1rm_28d=None)):  # fmt: skip
        res = kernel(patient(), light, **weaker)
        assert res.envelope.aerobic_weekly_volume_max == pytest.approx(33), weaker
        assert res.envelope.resistance_pct_1rm_max == pytest.approx(49.5), weaker


def test_v37c_record_does_not_lift_a_stalled_modality() -> None:
    """2026.12.3: the record steps in for the +10% step only; a moderate AE in a walk or two
    intolerant lifts still hold that modality at its current (light) dose."""
    light = rx(a_minutes=10, a_pct=(60, 63), r_pct=(40, 45))
    record = dict(aerobic_tolerated_weekly_minutes_28d=90, resistance_tolerated_pct_1rm_28d=50)
    res = kernel(patient(), light, **record, moderate_ae_7d=1, aerobic_moderate_ae_7d=1,
                 resistance_moderate_ae_7d=0)  # fmt: skip
    assert res.envelope.aerobic_weekly_volume_max == 30  # held at 3 x 10
    assert res.envelope.resistance_pct_1rm_max == pytest.approx(55)  # resistance was tolerated
    res = kernel(patient(), light, **record, intolerant_streak=2, resistance_intolerant_streak=2,
                 aerobic_intolerant_streak=0)  # fmt: skip
    assert res.envelope.resistance_pct_1rm_max == 45
    assert res.envelope.aerobic_weekly_volume_max == pytest.approx(99)


def test_v38_knee_pain_walking__progression_aerobic_none_after_moderate_ae() -> None:
    """Same patient, a moderate AE (knee pain) in a walking session 3 days ago -> the aerobic dose
    stays where it is; resistance, tolerated, may still progress (+10%)."""
    history = dict(moderate_ae_7d=1, aerobic_moderate_ae_7d=1, resistance_moderate_ae_7d=0)
    res = kernel(patient(), rx(), **history)
    assert "progression.aerobic_none_after_moderate_ae" in res.rule_ids
    assert "progression.resistance_none_after_moderate_ae" not in res.rule_ids
    assert res.envelope.aerobic_weekly_volume_max == 90
    assert res.envelope.aerobic_sessions_max == 3
    assert res.envelope.resistance_pct_1rm_max == 55
    # aerobic <= 68% HRmax and resistance <= 55% 1RM: no vigorous dose fits, so the label is due
    assert "no_vigorous" in res.restrictions
    assert gk.check_prescription(rx(restrictions=("no_vigorous",)), res) == []
    assert gk.check_prescription(rx(a_minutes=31, restrictions=("no_vigorous",)), res)
    # 2026.12.6: the session length is held too: one 60-minute walk (60 of the 90 minutes) would
    # be the longest walk since the knee pain; two 40-minute walks are no shorter
    assert res.envelope.aerobic_minutes_max == 30
    assert res.limited_by["aerobic_minutes_max"] == "progression.aerobic_none_after_moderate_ae"
    for sessions, minutes in ((1, 60), (2, 40)):
        assert gk.check_prescription(rx(a_sessions=sessions, a_minutes=minutes,
                                        restrictions=("no_vigorous",)), res)  # fmt: skip
    assert gk.check_prescription(rx(a_sessions=2, a_minutes=30,
                                    restrictions=("no_vigorous",)), res) == []  # fmt: skip
    # a caller that only knows the all-session count: both modalities held (the safer reading)
    res = kernel(patient(), rx(), moderate_ae_7d=1)
    assert res.envelope.aerobic_weekly_volume_max == 90
    assert res.envelope.resistance_pct_1rm_max == 50


def test_v39_two_intolerant_walks__progression_aerobic_none_after_intolerance() -> None:
    """Two walks in a row not tolerated (RPE too high), a tolerated resistance session in between
    (the all-session streak is 1) -> aerobic at most the current dose; no new modality."""
    history = dict(intolerant_streak=1, aerobic_intolerant_streak=2, resistance_intolerant_streak=0)
    res = kernel(patient(), rx(r_sessions=None), **history)
    assert "progression.aerobic_none_after_intolerance" in res.rule_ids
    assert res.envelope.aerobic_weekly_volume_max == 90
    assert res.envelope.aerobic_pct_hrmax_max == 68
    assert not res.envelope.resistance_allowed  # no new modality while not tolerating
    assert "progression.no_new_resistance_while_stalled" in res.rule_ids
    assert "no_resistance" in res.restrictions


def test_v40_frail_start_20pct__conflict_resistance_infeasible() -> None:
    """78-y frail woman on 15-20% 1RM: +10% stays below the 30% floor -> no resistance (safer)."""
    res = kernel(patient(age=78), rx(r_pct=(15, 20)))
    assert "conflict.resistance_infeasible" in res.rule_ids
    assert not res.envelope.resistance_allowed and "no_resistance" in res.restrictions


def test_v41_combined_platelets_bone_mets__most_restrictive_wins() -> None:
    """66-y myeloma (haematologic) with cleared bone lesions and platelets 40 -> no resistance
    (labs.platelets_20_50) plus bone precautions (metastasis.bone), aerobic <= 63%."""
    res = kernel(
        patient(
            age=66,
            cancer_type="hematologic",
            metastatic_sites=["bone"],
            medical_clearance=True,
            platelets_10e9_l=40,
        )
    )
    assert {"labs.platelets_20_50", "metastasis.bone"} <= set(res.rule_ids)
    assert not res.envelope.resistance_allowed
    assert {"no_high_impact", "no_spinal_loading", "no_resistance"} <= set(res.restrictions)
    assert res.envelope.aerobic_pct_hrmax_max == 63


def test_v42_no_labs_no_vitals__missing_values_are_not_known() -> None:
    """New patient, no labs or vitals yet -> allowed; no lab rule fires, nothing loosens."""
    p = patient(
        platelets_10e9_l=None,
        hemoglobin_g_dl=None,
        anc_10e9_l=None,
        resting_hr=None,
        systolic_bp=None,
        diastolic_bp=None,
        spo2=None,
        temperature_c=None,
        vomiting_24h=None,
        sarcopenia=None,
    )
    res = kernel(p)
    assert res.decision == "allowed"
    assert not any(r.startswith(("hold.", "labs.", "vitals.")) for r in res.rule_ids)
    assert res.envelope.resistance_pct_1rm_max == 50  # sarcopenia unknown: starting ceiling


def test_v43_vigorous_week_counts_double__global_weekly_volume() -> None:
    """Fit survivor asking 5 x 40 min at 80-85% HRmax = 400 moderate-equivalent min -> flagged,
    clamped to 150 vigorous minutes."""
    res = kernel(patient(age=45))
    too_much = rx(a_sessions=5, a_minutes=40, a_pct=(80, 85), r_sessions=None)
    assert any("moderate-equivalent" in p for p in gk.check_prescription(too_much, res))
    fixed = gk.clamp_prescription(too_much, res)
    assert fixed is not None and fixed.aerobic is not None
    assert fixed.aerobic.sessions_per_week * fixed.aerobic.minutes_per_session <= 150
    assert gk.check_prescription(fixed, res) == []


def test_v44_seven_sessions__global_weekly_sessions() -> None:
    """5 aerobic + 3 resistance sessions a week -> 8 > 6 flagged; clamp keeps resistance."""
    res = kernel(patient(age=45))
    week = rx(a_sessions=5, a_minutes=20, r_sessions=3)
    problems = gk.check_prescription(week, res)
    assert any("sessions/week (aerobic + resistance)" in p for p in problems)
    fixed = gk.clamp_prescription(week, res)
    assert fixed is not None and fixed.aerobic is not None and fixed.resistance is not None
    assert fixed.aerobic.sessions_per_week + fixed.resistance.sessions_per_week <= 6


# ---------------------------------------------------------------------------- guideline 2026.12.0
# The cases of issue #11 (each measured on main before the fix) and one vignette per new rule.
CHEMO_DAY_10 = dict(treatment_phase="chemotherapy", days_since_infusion=10)


def test_v45_cad_hb_8_6__hold_hemoglobin_below_9_cardiovascular() -> None:
    """Issue #11: 68-y man with coronary disease on chemotherapy, Hb 8.6 g/dL -> hold (Medical
    Algorithms: Hb < 9 g/dL with coronary disease is a contraindication); was allowed."""
    p = patient(
        sex="male",
        age=68,
        cancer_type="colorectal",
        comorbidities=["cardiovascular_disease"],
        hemoglobin_g_dl=8.6,
        **CHEMO_DAY_10,
    )
    assert_no_dose(kernel(p), "hold", "hold.hemoglobin_below_9_cardiovascular")


def test_v46_hypoglycaemia_62__hold_glucose() -> None:
    """59-y man with diabetes, glucose 62 mg/dL before the session -> hold for today; 340 too."""
    kw = dict(sex="male", age=59, cancer_type="prostate", comorbidities=["diabetes"])
    assert_no_dose(kernel(patient(**kw, glucose_mg_dl=62)), "hold", "hold.glucose")
    assert_no_dose(kernel(patient(**kw, glucose_mg_dl=340)), "hold", "hold.glucose")
    assert kernel(patient(**kw, glucose_mg_dl=140)).decision == "allowed"


def test_v47_bone_mets_pain_9__refer_bone_metastases_pain_or_neurological() -> None:
    """Issue #11: 64-y prostate cancer, cleared spinal bone metastases, bone pain 9/10 -> refer
    (possible fracture or cord compression); was 76% HRmax and 60-minute sessions."""
    p = patient(
        sex="male",
        age=64,
        cancer_type="prostate",
        stage="IV",
        metastatic_sites=["bone"],
        medical_clearance=True,
        bone_fracture_risk="low",
        pain=9,
    )
    assert_no_dose(kernel(p), "refer", "refer.bone_metastases_pain_or_neurological")


def test_v48_bone_mets_new_leg_weakness__refer_bone_metastases_pain_or_neurological() -> None:
    """60-y breast cancer, cleared thoracic bone metastases, new leg numbness -> refer."""
    p = patient(
        age=60,
        stage="IV",
        metastatic_sites=["bone"],
        medical_clearance=True,
        bone_fracture_risk="low",
        neurological_symptoms=True,
    )
    assert_no_dose(kernel(p), "refer", "refer.bone_metastases_pain_or_neurological")


def test_v49_lytic_femur_lesion__refer_bone_metastases_high_fracture_risk() -> None:
    """70-y myeloma, lytic femoral lesion (Mirels 9) assessed high risk, cleared -> refer."""
    p = patient(
        age=70,
        cancer_type="hematologic",
        metastatic_sites=["bone"],
        medical_clearance=True,
        bone_fracture_risk="high",
    )
    assert_no_dose(kernel(p), "refer", "refer.bone_metastases_high_fracture_risk")


def test_v50_bone_mets_risk_not_assessed__metastasis_bone_fracture_risk_not_low() -> None:
    """Issue #11 (one generic clearance flag satisfied every site): 66-y breast cancer, cleared
    bone metastases, fracture risk not assessed -> supervised sessions only, no spinal loading,
    no high impact, resistance at most 50% 1RM; assessed moderate -> the same."""
    kw = dict(age=66, stage="IV", metastatic_sites=["bone"], medical_clearance=True)
    for risk in (None, "moderate"):
        res = kernel(patient(**kw, bone_fracture_risk=risk, resistance_experience="experienced"))
        assert "metastasis.bone_fracture_risk_not_low" in res.rule_ids
        assert {"supervised_only", "no_spinal_loading", "no_high_impact"} <= set(res.restrictions)
        assert res.envelope.resistance_pct_1rm_max == 50


def test_v51_lvef_35__refer_lvef_below_40() -> None:
    """55-y breast cancer after anthracyclines, LVEF 35%, no cardiology clearance -> refer."""
    p = patient(age=55, cardiotoxic_therapy=True, lvef_pct=35)
    assert_no_dose(kernel(p), "refer", "refer.lvef_below_40")
    cleared = kernel(patient(age=55, cardiotoxic_therapy=True, lvef_pct=35, medical_clearance=True))
    assert cleared.decision == "allowed"


def test_v52_colectomy_3_weeks_ago__refer_recent_surgery_6_weeks() -> None:
    """63-y colorectal cancer, colectomy 21 days ago, surgeon has not cleared -> refer."""
    p = patient(age=63, cancer_type="colorectal", recent_surgery_days=21)
    assert_no_dose(kernel(p), "refer", "refer.recent_surgery_6_weeks")


def test_v53_mastectomy_8_weeks_ago__surgery_within_12_weeks() -> None:
    """52-y breast cancer, mastectomy 56 days ago, experienced lifter -> resistance <= 50% 1RM;
    the same patient cleared 3 weeks after surgery gets the same cap."""
    for days, cleared in ((56, False), (21, True)):
        res = kernel(
            patient(
                age=52,
                recent_surgery_days=days,
                medical_clearance=cleared,
                resistance_experience="experienced",
            )
        )
        assert res.decision == "allowed" and "surgery.within_12_weeks" in res.rule_ids
        assert res.envelope.resistance_pct_1rm_max == 50


def test_v54_chemo_day_10_no_labs__unknown_platelets() -> None:
    """Issue #11: on chemotherapy, day 10 after an infusion, platelets, ANC and hemoglobin not
    given -> not the open envelope it was (85% HRmax, 80% 1RM) but the most restrictive band that
    still allows exercise: no resistance, light aerobic (<= 63%), no public facilities; the
    response names the missing labs."""
    p = patient(
        resistance_experience="experienced",
        platelets_10e9_l=None,
        anc_10e9_l=None,
        hemoglobin_g_dl=None,
        **CHEMO_DAY_10,
    )
    res = kernel(p)
    assert res.decision == "allowed"
    assert {"unknown.platelets", "unknown.anc", "unknown.hemoglobin"} <= set(res.rule_ids)
    assert set(res.unknown_facts) == {"platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl"}
    assert not res.envelope.resistance_allowed and res.envelope.aerobic_pct_hrmax_max == 63
    assert {"no_resistance", "no_vigorous", "avoid_public_facilities"} <= set(res.restrictions)
    # once the counts are given (and normal), the envelope opens again
    assert kernel(patient(resistance_experience="experienced", **CHEMO_DAY_10)).unknown_facts == ()


def test_v55_chemo_anc_not_given__unknown_anc() -> None:
    """47-y lymphoma on chemotherapy, day 12, ANC not given -> treated as 0.5-1.5 x10^9/L."""
    res = kernel(patient(age=47, cancer_type="hematologic", anc_10e9_l=None, **CHEMO_DAY_10))
    assert res.unknown_facts == ("anc_10e9_l",)
    assert {"avoid_public_facilities", "no_vigorous"} <= set(res.restrictions)


def test_v56_chemo_hb_not_given__unknown_hemoglobin() -> None:
    """58-y colorectal cancer on chemotherapy, hemoglobin not given -> no vigorous exercise."""
    res = kernel(patient(cancer_type="colorectal", hemoglobin_g_dl=None, **CHEMO_DAY_10))
    assert res.unknown_facts == ("hemoglobin_g_dl",) and "no_vigorous" in res.restrictions
    assert res.envelope.aerobic_pct_hrmax_max <= 76


def test_v57_neutropenic_no_temperature__unknown_temperature_with_low_anc() -> None:
    """50-y breast cancer on chemotherapy, ANC 0.9, temperature not taken -> check the temperature
    before every session; with ANC 2.5 an untaken temperature changes nothing."""
    res = kernel(patient(age=50, anc_10e9_l=0.9, temperature_c=None, **CHEMO_DAY_10))
    assert "temperature_c" in res.unknown_facts and "check_temperature" in res.restrictions
    res = kernel(patient(age=50, anc_10e9_l=2.5, temperature_c=None, **CHEMO_DAY_10))
    assert res.unknown_facts == () and "check_temperature" not in res.restrictions


def test_v58_chemo_spo2_not_measured__unknown_spo2() -> None:
    """66-y lung cancer on chemotherapy, SpO2 not measured -> treated as 88-94% (no vigorous)."""
    res = kernel(patient(age=66, cancer_type="lung", spo2=None, **CHEMO_DAY_10))
    assert res.unknown_facts == ("spo2",) and "no_vigorous" in res.restrictions


def test_v59_chemo_infusion_date_not_given__unknown_days_since_infusion() -> None:
    """45-y breast cancer on chemotherapy, date of the last infusion not given -> treated as the
    infusion day: light only (aerobic <= 63% HRmax, RPE <= 11, resistance <= 50% 1RM)."""
    res = kernel(patient(age=45, treatment_phase="chemotherapy", days_since_infusion=None))
    assert res.unknown_facts == ("days_since_infusion", "next_infusion_in_days")
    env = res.envelope
    assert env.aerobic_pct_hrmax_max == 63 and env.aerobic_rpe_max == 11
    assert env.resistance_pct_1rm_max <= 50


def test_v59b_chemo_next_infusion_not_given__unknown_next_infusion_in_days() -> None:
    """2026.12.2: 45-y breast cancer on chemotherapy, day 10 of the cycle, next infusion date
    not given -> treated as the infusion day (light only), named; after treatment it is not
    asked for (no infusion is planned)."""
    res = kernel(
        patient(
            age=45,
            treatment_phase="chemotherapy",
            days_since_infusion=10,
            next_infusion_in_days=None,
        )
    )
    assert res.unknown_facts == ("next_infusion_in_days",)
    env = res.envelope
    assert env.aerobic_pct_hrmax_max == 63 and env.aerobic_rpe_max == 11
    assert env.resistance_pct_1rm_max <= 50
    done = kernel(patient(age=45, treatment_phase="post_treatment", days_since_infusion=10))
    assert done.unknown_facts == () and done.envelope.aerobic_pct_hrmax_max == 76


def test_v60_day_5_after_infusion__infusion_window_no_vigorous() -> None:
    """Issue #11: 45-y breast cancer, ECOG 0, day 5 after an infusion -> no vigorous (was 85%)."""
    res = kernel(patient(age=45, treatment_phase="chemotherapy", days_since_infusion=5))
    assert "infusion.window_no_vigorous" in res.rule_ids and "no_vigorous" in res.restrictions
    assert res.envelope.aerobic_pct_hrmax_max == 76
    day6 = dict(age=45, treatment_phase="chemotherapy", days_since_infusion=6)
    assert kernel(patient(**day6, next_infusion_in_days=15)).envelope.aerobic_pct_hrmax_max == 85
    # 2026.12.1: with the next infusion not known it could be within 2 days: no vigorous;
    # 2026.12.2: it could be today: light only (v59b)
    assert kernel(patient(**day6, next_infusion_in_days=None)).envelope.aerobic_pct_hrmax_max == 63


def test_v61_next_infusion_in_2_days__infusion_window_no_vigorous() -> None:
    """Issue #11 (an infusion due in the coming week was unknown to the kernel): day 19 of a
    21-day cycle, next infusion in 2 days -> no vigorous; in 3 days -> vigorous allowed."""
    kw = dict(age=45, treatment_phase="chemotherapy", days_since_infusion=19)
    res = kernel(patient(**kw, next_infusion_in_days=2))
    assert "infusion.window_no_vigorous" in res.rule_ids
    assert res.envelope.aerobic_pct_hrmax_max == 76
    assert kernel(patient(**kw, next_infusion_in_days=3)).envelope.aerobic_pct_hrmax_max == 85


def test_v62_infusion_today__infusion_day_light_only() -> None:
    """51-y breast cancer, infusion this morning -> light only; the same when it is due today."""
    for kw in (dict(days_since_infusion=0), dict(days_since_infusion=20, next_infusion_in_days=0)):
        res = kernel(patient(age=51, treatment_phase="chemotherapy", **kw))
        assert "infusion.day_light_only" in res.rule_ids
        assert res.envelope.aerobic_pct_hrmax_max == 63 and res.envelope.aerobic_rpe_max == 11
        assert res.envelope.resistance_pct_1rm_max <= 50


def test_v63_heart_disease_without_clearance__cardiac_no_clearance() -> None:
    """Issue #11: 60-y prostate cancer with coronary disease, experienced lifter, no clearance ->
    no vigorous, resistance at most 60% 1RM (was moderate aerobic and 80% 1RM)."""
    res = kernel(
        patient(
            sex="male",
            age=60,
            cancer_type="prostate",
            comorbidities=["cardiovascular_disease"],
            resistance_experience="experienced",
        )
    )
    assert "cardiac.no_clearance" in res.rule_ids and "no_vigorous" in res.restrictions
    assert res.envelope.resistance_pct_1rm_max == 60
    assert res.envelope.aerobic_pct_hrmax_max == 76


def test_v64_after_anthracyclines__cardiac_no_clearance() -> None:
    """48-y breast cancer after doxorubicin and trastuzumab (cardiotoxic), not yet cleared ->
    no vigorous, resistance <= 60% 1RM; cleared by cardiology -> vigorous allowed again."""
    kw = dict(age=48, cardiotoxic_therapy=True, resistance_experience="experienced")
    res = kernel(patient(**kw))
    assert "cardiac.no_clearance" in res.rule_ids and res.envelope.resistance_pct_1rm_max == 60
    cleared = kernel(patient(**kw, medical_clearance=True))
    assert "cardiac.no_clearance" not in cleared.rule_ids
    assert cleared.envelope.aerobic_pct_hrmax_max == 85


def test_v64b_cardiotoxic_therapy_not_recorded__unknown_cardiotoxic_therapy() -> None:
    """2026.12.2: 48-y breast cancer, whether she had anthracyclines or trastuzumab not recorded,
    not cleared -> read as given (no vigorous, resistance <= 60% 1RM) and named; with clearance
    nothing is assumed."""
    kw = dict(age=48, cardiotoxic_therapy=None, resistance_experience="experienced")
    res = kernel(patient(**kw))
    assert res.unknown_facts == ("cardiotoxic_therapy",)
    assert res.envelope.resistance_pct_1rm_max == 60 and "no_vigorous" in res.restrictions
    cleared = kernel(patient(**kw, medical_clearance=True))
    assert cleared.unknown_facts == () and cleared.envelope.resistance_pct_1rm_max == 80


def test_v64c_surgery_date_not_given__unknown_recent_surgery_days() -> None:
    """2026.12.2: 60-y colorectal cancer, date of the last major surgery not given -> read as
    under 12 weeks ago (resistance <= 50% 1RM) and named; 100 days ago -> no cap."""
    kw = dict(age=60, cancer_type="colorectal", resistance_experience="experienced")
    res = kernel(patient(**kw, recent_surgery_days=None))
    assert res.unknown_facts == ("recent_surgery_days",)
    assert res.envelope.resistance_pct_1rm_max == 50
    assert kernel(patient(**kw, recent_surgery_days=100)).envelope.resistance_pct_1rm_max == 80


def test_v65_osteoporosis__comorbidity_osteoporosis_or_hormone_therapy() -> None:
    """Issue #11: 69-y breast cancer on an aromatase inhibitor with osteoporosis -> no high impact,
    no spinal loading (osteoporosis was read by no rule)."""
    res = kernel(patient(age=69, treatment_phase="hormone_therapy", comorbidities=["osteoporosis"]))
    assert "comorbidity.osteoporosis_or_hormone_therapy" in res.rule_ids
    assert {"no_high_impact", "no_spinal_loading"} <= set(res.restrictions)


def test_v66_androgen_deprivation__comorbidity_osteoporosis_or_hormone_therapy() -> None:
    """Issue #11: 72-y prostate cancer on androgen-deprivation therapy -> no high impact, no
    spinal loading (fracture risk; ACSM 2010)."""
    res = kernel(
        patient(sex="male", age=72, cancer_type="prostate", treatment_phase="hormone_therapy")
    )
    assert {"no_high_impact", "no_spinal_loading"} <= set(res.restrictions)


def test_v67_ostomy_without_clearance__ostomy_resistance_needs_clearance() -> None:
    """Issue #11: 61-y colorectal cancer with a colostomy, no clearance -> no resistance training
    (was 80% 1RM allowed)."""
    res = kernel(patient(age=61, cancer_type="colorectal", comorbidities=["ostomy"]))
    assert "ostomy.resistance_needs_clearance" in res.rule_ids
    assert not res.envelope.resistance_allowed and "no_resistance" in res.restrictions
    assert res.envelope.aerobic_allowed


def test_v68_ostomy_cleared__ostomy_precautions() -> None:
    """Same patient cleared by the surgeon -> supervised resistance, no high intra-abdominal
    pressure."""
    res = kernel(
        patient(age=61, cancer_type="colorectal", comorbidities=["ostomy"], medical_clearance=True)
    )
    assert res.envelope.resistance_allowed
    assert {"supervised_resistance", "no_high_intra_abdominal_pressure"} <= set(res.restrictions)


def test_v69_lymphedema_experienced_first_dose__lymphedema_start_ceiling_50() -> None:
    """Issue #11: 53-y breast cancer with arm lymphedema, an experienced lifter starting
    resistance -> at most 50% 1RM (PAL: start minimal), not 70%."""
    res = kernel(patient(age=53, comorbidities=["lymphedema"], resistance_experience="experienced"))
    assert "lymphedema.start_ceiling_50" in res.rule_ids
    assert res.envelope.resistance_pct_1rm_max == 50
    assert "supervised_resistance" in res.restrictions


def test_v70_spo2_92__vitals_spo2_88_to_94() -> None:
    """70-y lung cancer, SpO2 92% -> exercise as tolerated, no vigorous (TREK)."""
    res = kernel(patient(age=70, cancer_type="lung", spo2=92))
    assert "vitals.spo2_88_to_94" in res.rule_ids and "no_vigorous" in res.restrictions
    assert res.envelope.aerobic_pct_hrmax_max <= 76


def test_v71_fatigue_9__symptoms_severe_fatigue() -> None:
    """57-y breast cancer, fatigue 9/10 -> light, short sessions only (~10 min, ACS)."""
    res = kernel(patient(fatigue=9), rx())
    env = res.envelope
    assert "symptoms.severe_fatigue" in res.rule_ids
    assert env.aerobic_pct_hrmax_max == 63 and env.aerobic_minutes_max == 10
    assert env.resistance_pct_1rm_max <= 50 and env.resistance_sets_max <= 2
    clamped = gk.clamp_prescription(rx(), res)
    assert clamped is not None and clamped.aerobic is not None
    assert clamped.aerobic.minutes_per_session == 10


def test_v71b_pain_9__symptoms_severe_pain() -> None:
    """2026.12.1: 60-y prostate cancer, no metastases, pain 9/10 -> light, short sessions only
    (before: nothing, 85% HRmax allowed; ACS/ACSM list: skip a session on new severe pain)."""
    res = kernel(patient(age=60, sex="male", cancer_type="prostate", pain=9), rx())
    env = res.envelope
    assert "symptoms.severe_pain" in res.rule_ids and "no_vigorous" in res.restrictions
    assert env.aerobic_pct_hrmax_max == 63 and env.aerobic_minutes_max == 10
    assert env.resistance_pct_1rm_max <= 50 and env.resistance_sets_max <= 2


def test_v71c_fatigue_not_scored__unknown_fatigue() -> None:
    """2026.12.3: 57-y breast cancer, the visit recorded no fatigue or pain score and she logged
    none in the last 7 days -> the symptomatic-day band, both facts named (before: 60-minute
    sessions at 76% HRmax, looser than a known 8/10)."""
    res = kernel(patient(fatigue=None, pain=None), rx())
    env = res.envelope
    assert {"unknown.fatigue", "unknown.pain"} <= set(res.rule_ids)
    assert {"fatigue", "pain"} <= set(res.unknown_facts) and "no_vigorous" in res.restrictions
    assert env.aerobic_pct_hrmax_max == 63 and env.aerobic_minutes_max == 10
    assert env.resistance_pct_1rm_max <= 50 and env.resistance_sets_max <= 2


def test_v71d_fatigue_scored_in_sessions__symptoms_recent_severe_fatigue() -> None:
    """2026.12.3: the same visit without scores, but her sessions of the last 7 days logged
    fatigue 3-4 and pain 1 -> those are her scores (the usual envelope); one session at
    fatigue 8 -> the symptomatic-day band again."""
    recent = dict(fatigue_mean_7d=3.5, fatigue_8plus_7d=0, pain_mean_7d=1.0, pain_8plus_7d=0)
    res = kernel(patient(fatigue=None, pain=None), rx(), **recent)
    assert not {"fatigue", "pain"} & set(res.unknown_facts)
    assert res.envelope.aerobic_minutes_max > 10
    assert res.envelope == kernel(patient(), rx(), **recent).envelope  # as a visit score of 3/1
    res = kernel(patient(fatigue=None, pain=None), rx(), **recent | dict(fatigue_8plus_7d=1))
    assert "symptoms.recent_severe_fatigue" in res.rule_ids
    assert res.envelope.aerobic_minutes_max == 10 and res.envelope.aerobic_pct_hrmax_max == 63
    res = kernel(patient(fatigue=None, pain=None), rx(), **recent | dict(pain_8plus_7d=2))
    assert "symptoms.recent_severe_pain" in res.rule_ids
    assert res.envelope.resistance_sets_max <= 2


def test_v72_walks_cut_short__progression_aerobic_none_when_incomplete() -> None:
    """Walks of the last 2 weeks completed 75% on average -> aerobic dose not raised."""
    res = kernel(patient(), rx(), aerobic_completion_rate_14d=0.75)
    assert "progression.aerobic_none_when_incomplete" in res.rule_ids
    assert res.envelope.aerobic_weekly_volume_max == 90
    assert res.envelope.resistance_pct_1rm_max == 55


def test_v73_sets_left_undone__progression_resistance_none_when_incomplete() -> None:
    """Resistance sessions of the last 2 weeks: 1 of 2 sets done on average -> load held."""
    res = kernel(patient(), rx(), resistance_completion_rate_14d=0.5)
    assert "progression.resistance_none_when_incomplete" in res.rule_ids
    assert res.envelope.resistance_pct_1rm_max == 50
    assert res.envelope.aerobic_weekly_volume_max == 99


def test_v74_two_hard_lifting_sessions__progression_resistance_none_after_intolerance() -> None:
    """Issue #10 item 3: two resistance sessions in a row not tolerated, a tolerated walk in
    between (all-session streak 0) -> resistance load held; aerobic may still progress."""
    history = dict(intolerant_streak=0, aerobic_intolerant_streak=0, resistance_intolerant_streak=2)
    res = kernel(patient(), rx(), **history)
    assert "progression.resistance_none_after_intolerance" in res.rule_ids
    assert "progression.aerobic_none_after_intolerance" not in res.rule_ids
    assert res.envelope.resistance_pct_1rm_max == 50 and res.envelope.resistance_sessions_max == 2
    assert res.envelope.aerobic_weekly_volume_max == 99


def test_v75_shoulder_strain_lifting__progression_resistance_none_after_moderate_ae() -> None:
    """A moderate shoulder strain in a resistance session 2 days ago -> resistance dose held."""
    history = dict(moderate_ae_7d=1, aerobic_moderate_ae_7d=0, resistance_moderate_ae_7d=1)
    res = kernel(patient(), rx(), **history)
    assert "progression.resistance_none_after_moderate_ae" in res.rule_ids
    assert res.envelope.resistance_pct_1rm_max == 50
    assert res.envelope.aerobic_weekly_volume_max == 99


def test_v76_lifting_not_tolerated_no_walks__progression_no_new_aerobic_while_stalled() -> None:
    """On resistance only, two sessions not tolerated -> no aerobic exercise added this week."""
    current = Prescription(resistance=rx().resistance)
    res = kernel(patient(), current, resistance_intolerant_streak=2, intolerant_streak=2)
    assert "progression.no_new_aerobic_while_stalled" in res.rule_ids
    assert not res.envelope.aerobic_allowed and "no_aerobic" in res.restrictions


def test_v77_walks_not_tolerated_no_lifting__progression_no_new_resistance_while_stalled() -> None:
    """On aerobic only, walks not tolerated -> no resistance added (whatever the experience)."""
    res = kernel(
        patient(resistance_experience="experienced"),
        rx(r_sessions=None),
        aerobic_intolerant_streak=3,
    )
    assert "progression.no_new_resistance_while_stalled" in res.rule_ids
    assert not res.envelope.resistance_allowed and "no_resistance" in res.restrictions


def test_v78_closed_resistance_keeps_its_label__conflict_resistance_infeasible() -> None:
    """Issue #11 item 4 (stop 8): lymphedema, experienced, post-treatment, a resistance dose of 0
    sessions at 20-25% 1RM -> resistance closed; after a moderate AE it stays closed AND labelled
    (the label used to vanish when another rule closed resistance first)."""
    current = Prescription(
        aerobic=rx().aerobic,
        resistance=ResistanceDose(
            sessions_per_week=0,
            sets=2,
            reps=IntRange(low=10, high=12),
            intensity_pct_1rm=Range(low=20, high=25),
        ),
    )
    p = patient(comorbidities=["lymphedema"], resistance_experience="experienced")
    for history in ({}, {"moderate_ae_7d": 1}):
        res = kernel(p, current, **history)
        assert not res.envelope.resistance_allowed and "no_resistance" in res.restrictions


def test_v79_brain_mets_cleared__metastasis_brain() -> None:
    """Issue #11: 55-y lung cancer, treated brain metastases, cleared, experienced lifter ->
    light aerobic (<= 63% HRmax) on stationary equipment, balance and gait, supervised; light
    resistance (<= 50% 1RM); was 76% HRmax and 69% 1RM."""
    res = kernel(
        patient(
            age=55,
            cancer_type="lung",
            stage="IV",
            metastatic_sites=["brain"],
            medical_clearance=True,
            resistance_experience="experienced",
        )
    )
    assert {"stationary_modes_only", "balance_focus", "supervised_only"} <= set(res.restrictions)
    assert res.envelope.aerobic_pct_hrmax_max == 63 and res.envelope.resistance_pct_1rm_max == 50


# ------------------------------------------- kernel 2026.12.5 (session 13 audit of rule texts)
def test_v78_no_walk_logged__progression_aerobic_none_without_completed_sessions() -> None:
    """On 3 x 30 min but no walk with its completion logged in 14 days (none attended, or the
    log left blank) -> nothing shows the dose is completed: aerobic held at 3 x 30 min
    (ACSM "2-for-2"); resistance, completed, still +10%. Before 2026.12.5 the blank record got
    the +10% a completed one gets, while a known 75% completion held (v72)."""
    res = kernel(patient(), rx(), aerobic_completion_rate_14d=None)
    assert "progression.aerobic_none_without_completed_sessions" in res.rule_ids
    env = res.envelope
    assert env.aerobic_weekly_volume_max == 90 and env.aerobic_sessions_max == 3
    assert env.aerobic_pct_hrmax_max == 68
    assert env.resistance_pct_1rm_max == pytest.approx(55)
    assert gk.check_prescription(rx(a_minutes=33), res)


def test_v79_no_lifting_logged__progression_resistance_none_without_completed_sessions() -> None:
    """Same patient, resistance sessions never logged in 14 days -> load, sets and sessions held
    at 2 x 2 sets at 45-50% 1RM; aerobic, completed, still +10%."""
    res = kernel(patient(), rx(), resistance_completion_rate_14d=None)
    assert "progression.resistance_none_without_completed_sessions" in res.rule_ids
    env = res.envelope
    assert env.resistance_pct_1rm_max == 50 and env.resistance_sessions_max == 2
    assert env.resistance_sets_max == 2
    assert env.aerobic_weekly_volume_max == pytest.approx(99)


def test_v80_bone_mets_pain_8_in_a_session__refer_bone_metastases_pain_or_neurological() -> None:
    """Cleared bone metastases, low fracture risk, no pain score at the visit, but a session of
    the last 7 days scored pain 8/10 -> refer, as a visit score of 7 or more would (possible
    fracture); with the visit's own score of 3 that score is today's (no refer)."""
    facts = dict(metastatic_sites=["bone"], medical_clearance=True, bone_fracture_risk="low",
                 neurological_symptoms=False)  # fmt: skip
    res = kernel(patient(**facts, pain=None), rx(), pain_8plus_7d=1, pain_mean_7d=8.0)
    assert res.decision == "refer"
    assert "refer.bone_metastases_pain_or_neurological" in res.rule_ids
    res = kernel(patient(**facts, pain=3), rx(), pain_8plus_7d=1, pain_mean_7d=8.0)
    assert res.decision == "allowed"


def test_v81_platelets_35__labs_platelets_20_50_light_means_rpe_11() -> None:
    """Platelets 35 -> light aerobic: <= 63% HRmax and RPE <= 11 (RPE 13 is moderate work)."""
    res = kernel(patient(platelets_10e9_l=35))
    assert res.envelope.aerobic_pct_hrmax_max == 63 and res.envelope.aerobic_rpe_max == 11


# ------------------------------------------------------- kernel 2026.12.6 (FEATURE_SET 1.3.0)
def test_v82_one_walk_of_six__progression_steps_from_what_was_done() -> None:
    """On a light week (3 x 10 min) after a week in which 6 x 60 min were planned but one walk was
    attended (60 min, tolerated) -> the record is the 60 minutes done, so this week at most
    max(+10% of 30, +10% of 60) = 66 min. Before FEATURE_SET 1.3.0 the record counted the 360
    minutes planned and allowed 396. Computed from the sessions, as REST computes them."""
    walk = dict(modality="aerobic", planned_minutes=60, planned_pct_hrmax=66, rpe=12)
    sessions = [
        {**walk, "date": f"2026-11-{d:02d}", "attended": d == 7, "completed_minutes": 60}
        for d in (6, 7, 8, 9, 10, 11)
    ]
    light_walk = dict(modality="aerobic", planned_minutes=10, planned_pct_hrmax=62, attended=True)
    sessions += [
        {**light_walk, "date": f"2026-11-{d}", "completed_minutes": 10, "rpe": 11}
        for d in (13, 15, 17)
    ]
    for s in sessions:
        if not s["attended"]:
            s.pop("completed_minutes"), s.pop("rpe")
    light = rx(a_minutes=10, a_pct=(60, 63), r_sessions=None)
    req = RecommendRequest(patient=patient(), sessions=sessions, current_prescription=light,
                           as_of="2026-11-20")  # fmt: skip
    history = history_of(req)
    assert history["aerobic_tolerated_weekly_minutes_28d"] == 60
    res = kernel(req.patient, light, **history)
    assert res.limited_by["aerobic_weekly_volume_max"] == "progression.weekly_volume_10pct"
    assert res.envelope.aerobic_weekly_volume_max == pytest.approx(66)
    assert gk.check_prescription(rx(a_minutes=22, r_sessions=None), res) == []
    assert gk.check_prescription(rx(a_minutes=23, r_sessions=None), res)  # 69 min > 66


# ------------------------------------------------------------------------- kernel 2026.12.7
def _walks(days: tuple[int, ...], **kw: Any) -> list[dict[str, Any]]:
    """Attended, completed 20-minute walks planned at 62% HRmax in November 2026."""
    walk = dict(modality="aerobic", planned_minutes=20, planned_pct_hrmax=62, attended=True,
                completed_minutes=20, rpe=12) | kw  # fmt: skip
    return [{**walk, "date": f"2026-11-{d:02d}"} for d in days]


def test_v83_no_current_prescription_moderate_ae__held_at_the_logged_dose() -> None:
    """No current prescription (every CDS call; a REST client may leave it out), three weeks of
    2 x 20 min at 62% HRmax logged, a moderate adverse event in the last walk -> the aerobic
    dose is held at the logged one: at most 2 sessions of 20 min at 62%. Before 2026.12.7 the
    hold rules read only the current prescription, so they were silent and the generic
    3 x 30 min at 64-68% passed."""
    sessions = _walks((1, 4, 8, 11, 15))
    sessions += _walks((18,), adverse_event="moderate")
    req = RecommendRequest(patient=patient(), sessions=sessions, as_of="2026-11-22")
    history = history_of(req)
    assert history["aerobic_sessions_per_week_28d"] == 2
    res = kernel(req.patient, None, **history)
    assert "progression.aerobic_none_after_moderate_ae" in res.rule_ids
    assert "current_prescription" in res.unknown_facts  # the log stood in for it
    env = res.envelope
    assert (env.aerobic_sessions_max, env.aerobic_minutes_max) == (2, 20)
    assert env.aerobic_pct_hrmax_max == pytest.approx(62)
    closed = ("no_resistance", "no_vigorous")  # no new modality while one is stalled
    assert "progression.no_new_resistance_while_stalled" in res.rule_ids
    assert gk.check_prescription(rx(r_sessions=None, restrictions=closed), res)  # generic: no
    held = rx(2, 20, (58, 62), r_sessions=None, restrictions=closed)
    assert gk.check_prescription(held, res) == []
    # the same limits as with that dose stated as the current prescription
    stated_res = kernel(req.patient, rx(2, 20, (58, 62), r_sessions=None), **history)
    assert "current_prescription" not in stated_res.unknown_facts
    stated = stated_res.envelope
    assert (stated.aerobic_sessions_max, stated.aerobic_minutes_max) == (2, 20)
    assert stated.aerobic_weekly_volume_max == env.aerobic_weekly_volume_max == 40


def test_v84_no_current_prescription_lift_not_completed__resistance_held_at_the_logged_dose() -> (
    None
):
    """No current prescription, one resistance session a week for three weeks (2 sets at 55%
    1RM), the last one only half done -> resistance incomplete: at most 1 session, 2 sets,
    55% 1RM (the generic 2 sessions a week break it)."""
    lift = dict(modality="resistance", planned_minutes=30, planned_pct_1rm=55, planned_sets=2,
                attended=True, completed_sets=2, rpe=12)  # fmt: skip
    sessions = [{**lift, "date": f"2026-11-{d:02d}"} for d in (3, 10)]
    sessions.append({**lift, "date": "2026-11-17", "completed_sets": 1})
    req = RecommendRequest(patient=patient(resistance_experience="experienced"),
                           sessions=sessions, as_of="2026-11-22")  # fmt: skip
    history = history_of(req)
    res = kernel(req.patient, None, **history)
    assert "progression.resistance_none_when_incomplete" in res.rule_ids
    env = res.envelope
    assert (env.resistance_sessions_max, env.resistance_sets_max) == (1, 2)
    assert env.resistance_pct_1rm_max <= 55
    assert "progression.no_new_aerobic_while_stalled" in res.rule_ids  # aerobic is not added
    closed = ["no_aerobic", "no_vigorous"]
    two = Prescription(aerobic=None, resistance=rx(r_sessions=2).resistance, restrictions=closed)
    one = Prescription(aerobic=None, resistance=rx(r_sessions=1).resistance, restrictions=closed)
    assert gk.check_prescription(two, res)  # the generic 2 sessions a week
    assert gk.check_prescription(one, res) == []


def test_v85_logged_walks_without_intensity__a_hold_closes_aerobic() -> None:
    """The log of a CDS call (the PA IG records what was done: minutes, no planned intensity)
    and a moderate adverse event in the last walk, no current prescription -> the dose is held
    at the logged one, whose intensity is unknown: no aerobic intensity is known to be within
    it, so no aerobic exercise this week (conservative, SAFETY.md). Without the adverse event
    the logged walks only cap the weekly volume (+10% of 2 x 20 min)."""
    sessions = _walks((1, 4, 8, 11, 15), planned_pct_hrmax=None)
    calm_req = RecommendRequest(patient=patient(), sessions=sessions, as_of="2026-11-22")
    calm_res = kernel(calm_req.patient, None, **history_of(calm_req))
    assert calm_res.envelope.aerobic_allowed
    assert calm_res.envelope.aerobic_weekly_volume_max == pytest.approx(44)
    sessions += _walks((18,), planned_pct_hrmax=None, adverse_event="moderate")
    req = RecommendRequest(patient=patient(), sessions=sessions, as_of="2026-11-22")
    res = kernel(req.patient, None, **history_of(req))
    assert "progression.aerobic_none_after_moderate_ae" in res.rule_ids
    assert not res.envelope.aerobic_allowed and "no_aerobic" in res.restrictions
