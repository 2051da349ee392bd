"""Every number of the cohort simulator, in one place, each with its source.

Sources point at `shared/reference/guidelines.md` section 8 (simulator parameters) or sections 4-5
(labs, intensity). "project assumption" marks a number chosen by us where no published figure was
found; those were tuned so that the calibration table (training/calibration.py) lands inside the
published ranges. Change a number here, rerun `dosewise simulate`, and read the table.

All logit coefficients act on a log-odds scale; "per point" means per unit of the named variable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CANCER_TYPES = (
    "breast", "prostate", "colorectal", "lung", "hematologic", "gynecologic", "head_neck", "other"
)  # fmt: skip
SITES = ("bone", "lung", "liver", "brain", "lymph_node", "skin", "gi")
PHASES = (
    "none", "chemotherapy", "radiotherapy", "immunotherapy", "hormone_therapy",
    "targeted_therapy", "post_treatment", "palliative",
)  # fmt: skip
COMORBIDITIES = (
    "cardiovascular_disease", "diabetes", "osteoporosis", "peripheral_neuropathy", "lymphedema",
    "copd", "arthritis", "ostomy",
)  # fmt: skip


@dataclass(frozen=True)
class CohortMix:
    """Who is in the cohort (all project assumptions unless noted)."""

    # Exercise-oncology trials are dominated by breast cancer (Scott 2018: 48 RCTs, mostly breast).
    cancer_type_p: tuple[float, ...] = (0.30, 0.13, 0.12, 0.10, 0.10, 0.09, 0.06, 0.10)
    stage_p: tuple[float, ...] = (0.18, 0.32, 0.28, 0.22)  # I, II, III, IV
    # Stage IV: probability of each site, by cancer type (order of SITES); at least one is drawn.
    met_site_p: dict[str, tuple[float, ...]] = field(
        default_factory=lambda: {
            #             bone  lung liver brain  ln   skin  gi
            "breast": (0.60, 0.30, 0.30, 0.10, 0.40, 0.05, 0.00),
            "prostate": (0.85, 0.08, 0.08, 0.02, 0.50, 0.00, 0.00),
            "colorectal": (0.05, 0.35, 0.65, 0.02, 0.30, 0.00, 0.30),
            "lung": (0.35, 0.20, 0.20, 0.30, 0.40, 0.02, 0.00),
            "hematologic": (0.30, 0.05, 0.10, 0.02, 0.60, 0.05, 0.02),
            "gynecologic": (0.05, 0.20, 0.20, 0.02, 0.50, 0.00, 0.40),
            "head_neck": (0.10, 0.30, 0.05, 0.02, 0.60, 0.10, 0.00),
            "other": (0.30, 0.30, 0.30, 0.05, 0.30, 0.05, 0.10),
        }
    )
    # Mean and SD of age by cancer type; breast 55 y from Jones 2012 (V), others assumption.
    age_mean: tuple[float, ...] = (55, 68, 63, 65, 58, 60, 61, 60)
    age_sd: tuple[float, ...] = (11, 8, 11, 9, 14, 11, 10, 12)
    female_p: tuple[float, ...] = (0.99, 0.0, 0.5, 0.5, 0.5, 1.0, 0.3, 0.5)
    unknown_sex_p: float = 0.005
    # Treatment-phase weights (order of PHASES), then multiplied for type and stage below.
    phase_w: tuple[float, ...] = (0.06, 0.34, 0.10, 0.07, 0.10, 0.07, 0.20, 0.06)
    prostate_hormone_x: float = 4.0
    breast_hormone_x: float = 1.5
    stage4_palliative_x: float = 4.0
    stage4_post_treatment_x: float = 0.2
    stage1_chemo_x: float = 0.6
    palliative_chemo_p: float = 0.5  # Chiarotto 2017: metastatic, on palliative chemo
    # 21-day cycles (Wu 2008, Kirkham: taxane q3w, V); 14-day dose-dense share: assumption.
    cycle_days: tuple[int, ...] = (21, 14)
    cycle_days_p: tuple[float, ...] = (0.8, 0.2)
    cycles_before_max: int = 3  # cycles already given at enrolment, uniform 0..max
    # ECOG 0-4 (Oken 1982 scale, guidelines.md section 3); mostly 0-2 as in trials (ECOG <= 2 cut).
    ecog_p: tuple[float, ...] = (0.38, 0.37, 0.16, 0.06, 0.03)
    ecog_worse_advanced_p: float = 0.25  # stage IV or palliative: +1 with this probability
    # Comorbidity base prevalence (order of COMORBIDITIES) and additions.
    comorb_p: tuple[float, ...] = (0.10, 0.13, 0.06, 0.07, 0.04, 0.05, 0.15, 0.0)
    cvd_per_year_over_60: float = 0.006
    osteoporosis_hormone_add: float = 0.10
    neuropathy_chemo_add: float = 0.15
    lymphedema_breast_add: float = 0.15
    lymphedema_gyn_hn_add: float = 0.08
    copd_lung_add: float = 0.20
    copd_head_neck_add: float = 0.06
    ostomy_colorectal_add: float = 0.20
    ostomy_gyn_add: float = 0.04
    medical_clearance_p: float = 0.65  # brief: ~60-70%; Whitfield 2017: high referral rates (V)
    experience_p: tuple[float, ...] = (0.45, 0.35, 0.20)  # none, novice, experienced
    # Sarcopenia: logistic model, intercept set so prevalence is ~38% (Couderc 2023, V).
    sarc_intercept: float = -0.85
    sarc_per_decade_over_60: float = 0.35
    sarc_stage4: float = 0.6
    sarc_high_risk_types: tuple[str, ...] = ("lung", "colorectal", "head_neck", "hematologic")
    sarc_high_risk_add: float = 0.45
    sarc_observed_missing_p: float = 0.2  # not assessed (no CT) at that clinic: assumption


@dataclass(frozen=True)
class Baseline:
    """Latent physiology at enrolment."""

    height_female: tuple[float, float] = (163.0, 6.5)  # mean, SD cm: assumption
    height_male: tuple[float, float] = (176.0, 7.0)
    bmi: tuple[float, float] = (26.5, 4.8)
    bmi_sarcopenia: float = -1.5
    # VO2peak (mL/kg/min): breast 17.8 +/- 4.3, lowest in metastatic disease (Jones 2012, V).
    # Linear model around a 55-year-old woman with ECOG 0; coefficients are assumptions tuned so
    # the breast mean and SD match Jones 2012.
    vo2_intercept: float = 21.3
    vo2_male: float = 4.5
    vo2_per_year: float = -0.15
    vo2_per_ecog: float = -1.6
    vo2_stage4: float = -2.0
    vo2_sarcopenia: float = -2.2  # sarcopenic -> lower VO2 (Couderc 2023 simulator note)
    vo2_copd: float = -2.0
    vo2_cvd: float = -1.5
    vo2_on_treatment: float = -0.8  # chemo/palliative at enrolment
    vo2_sd: float = 3.2
    vo2_bounds: tuple[float, float] = (6.0, 50.0)
    # Strength (grip-equivalent kg): assumption; sarcopenia -25% (low muscle mass).
    strength_female: float = 26.0
    strength_male: float = 40.0
    strength_per_year_over_50: float = -0.25
    strength_per_ecog: float = -1.5
    strength_sarcopenia_x: float = 0.75
    strength_cv: float = 0.15
    # Motivation on the logit scale of attendance. Exercise history predicts adherence (IJBNPA
    # 2014, V); measured motivation did not (Courneya 2008: Theory-of-Planned-Behaviour variables
    # were no predictor; fitness, stage, depression and centre were), so the latent part is small
    # and most between-person spread comes from observables (fitness, symptoms, treatment).
    motivation_sd: float = 0.15
    motivation_novice: float = 0.3
    motivation_experienced: float = 0.7
    # Person-level tolerance beyond measured fitness (logit SD): assumption. It shows in the 6MWT
    # (Observation.walk_per_trait_sd) and in session RPE (Tolerance.rpe_per_trait_sd).
    tolerance_trait_sd: float = 0.3
    responder_sd: float = 0.35  # log-SD of training response (heterogeneity): assumption
    # Fatigue 0-10: Kirkham baseline 3.2 (V); ECOG/sarcopenia shifts are assumptions.
    fatigue_base: float = 2.7
    fatigue_per_ecog: float = 0.45
    fatigue_sarcopenia: float = 0.4
    fatigue_sd: float = 1.0
    pain_base: float = 1.2
    pain_bone: float = 1.5
    pain_arthritis: float = 0.8
    pain_per_ecog: float = 0.3
    pain_sd: float = 1.0
    # Labs at enrolment: assumptions around adult reference ranges.
    hb_female: float = 12.9
    hb_male: float = 14.2
    hb_sd: float = 1.1
    hb_hematologic: float = -1.4
    hb_on_treatment: float = -0.6
    anc_median: float = 3.8
    anc_log_sd: float = 0.35
    plt_mean: float = 250.0
    plt_sd: float = 60.0
    hematologic_counts_x: float = 0.75
    # Vitals at enrolment: assumptions.
    rhr_base: float = 72.0
    rhr_per_vo2_below_20: float = 0.6
    rhr_sd: float = 8.0
    sbp_base: float = 124.0
    sbp_per_year: float = 0.4
    sbp_cvd: float = 8.0
    sbp_targeted: float = 6.0  # VEGF-pathway drugs raise BP
    sbp_sd: float = 13.0
    dbp_base: float = 77.0
    dbp_sd: float = 8.0
    spo2_base: float = 97.2
    spo2_copd: float = -2.5
    spo2_lung: float = -1.5  # lung cancer or lung metastases, each
    spo2_sd: float = 1.0
    temp_base: float = 36.7
    temp_sd: float = 0.2
    beta_blocker_given_cvd_p: float = 0.5  # lowers exercise HR by 15%


@dataclass(frozen=True)
class Chemo:
    """Chemotherapy cycle effects on fatigue, labs and symptoms."""

    # Kirkham (V): fatigue 3.2 -> 4.1 before cycle 3 -> 5.1 peak on days 3-5 -> 4.3 before the next.
    fatigue_peak: float = 2.0  # height of the bump at its peak, points
    fatigue_peak_day: float = 3.5  # gamma-shaped bump peaking mid days 3-5 (Kirkham)
    fatigue_shape_k: float = 2.0
    fatigue_drift_per_cycle: float = 0.35  # cumulative upward drift (Kirkham ~0.45/cycle)
    fatigue_drift_cap: float = 1.5
    radiotherapy_fatigue_per_week: float = 0.08  # cumulative RT fatigue: assumption
    # Day-to-day fluctuation of fatigue: AR(1) with this SD (points) and day-to-day correlation
    # (cancer-related fatigue is persistent from one day to the next): assumption.
    fatigue_day_sd: float = 0.6
    fatigue_day_keep: float = 0.7
    radiotherapy_fatigue_cap: float = 1.2
    # Nadir of counts ~day 7-14 after infusion (brief); depth per patient ~ Beta: assumptions.
    nadir_day: float = 10.0
    nadir_sd_days: float = 3.0
    anc_depth_beta: tuple[float, float] = (3.0, 2.0)
    anc_depth_beta_hematologic: tuple[float, float] = (5.0, 1.8)
    plt_depth_beta: tuple[float, float] = (2.0, 5.0)
    plt_depth_beta_hematologic: tuple[float, float] = (5.0, 2.0)
    hb_nadir_dip: float = 0.8
    hb_drop_per_cycle: float = 0.12
    hb_drop_cap: float = 2.0
    # Fever: background, and febrile neutropenia when ANC < 1.0 (per day): assumptions.
    fever_background_p: float = 0.002
    fever_neutropenic_p: float = 0.06
    # Vomiting (per day): days 0-2 after infusion vs other days: assumptions.
    vomiting_early_p: float = 0.10
    vomiting_chemo_p: float = 0.01
    vomiting_other_p: float = 0.003
    # Rare acute episodes (per day): tachycardia (dehydration, sepsis, pain) and desaturation in
    # COPD or lung disease, so that every hold condition occurs now and then: assumptions.
    tachycardia_p: float = 0.003
    tachycardia_bpm: tuple[float, float] = (30.0, 50.0)
    desaturation_p_lung: float = 0.01
    desaturation_pct: tuple[float, float] = (6.0, 11.0)
    weight_change_per_week: float = -0.08  # kg during chemo: assumption
    weight_sd_per_week: float = 0.3


@dataclass(frozen=True)
class Training:
    """Training adaptation and decline (weekly)."""

    # Effective aerobic stimulus = minutes x clip((%HRmax - floor)/span, 0, cap); 3 x 30 min at
    # 70% HRmax = 90 effective minutes = the reference week (Campbell 2019 generic dose, V).
    aerobic_floor_pct: float = 45.0
    aerobic_span_pct: float = 25.0
    aerobic_intensity_cap: float = 1.6
    # Power on that intensity factor: 1 = stimulus proportional to minutes x intensity (base); the
    # `intensity-driven-fitness` scenario raises it (training/SIMULATOR.md, scenarios).
    aerobic_intensity_exponent: float = 1.0
    aerobic_reference: float = 90.0
    # Scott 2018 (V): +2.80 mL/kg/min with exercise vs +0.02 control over ~12 weeks; Jones 2011
    # (V): usual care declines -1.02. Gain per reference week, with diminishing returns.
    vo2_gain_per_week: float = 0.36
    vo2_dose_exponent: float = 0.7
    vo2_stimulus_cap: float = 2.0
    vo2_headroom: float = 7.0  # gains shrink to 0 at +7 above baseline: assumption
    vo2_decline_chemo: float = 0.09  # per week without training (Jones 2011 -1.02 / ~12 wk)
    vo2_decline_palliative: float = 0.05
    vo2_sarcopenia_x: float = 0.8  # blunted response: assumption
    vo2_age_x_per_decade_over_60: float = -0.08
    # Resistance stimulus = completed sets x clip((%1RM - 30)/30, 0, 1.7); 2 x 2 sets at 60% = 4.
    resistance_floor_pct: float = 30.0
    resistance_span_pct: float = 30.0
    resistance_intensity_cap: float = 1.7
    resistance_reference: float = 4.0
    strength_gain_per_week: float = 0.012  # relative, assumption (~+15% in 12 weeks)
    strength_headroom: float = 0.3
    strength_decline_chemo: float = 0.0025
    # Recent adaptation index: exponential moving average of the weekly stimulus ratio.
    adaptation_keep: float = 0.75
    fatigue_relief_per_adaptation: float = 0.4  # exercise lowers fatigue (Campbell 2019, V)
    acute_fatigue_per_overload: float = 0.35  # next-day fatigue after a hard session: assumption
    acute_fatigue_keep: float = 0.5


@dataclass(frozen=True)
class Tolerance:
    """Logit of p_tolerate for an attended session (all assumptions, tuned for the table).

    Dose enters through softplus penalties around a personal capacity, so p_tolerate falls
    monotonically with %HRmax, minutes, %1RM and sets. Apart from the day's state between weekly
    visits, every term is recorded by the clinic or shows in what it records (the person-level
    trait in the 6MWT and in RPE); the rest of chance is the Bernoulli draw of the outcome.
    """

    base: float = 3.0
    per_vo2_sd: float = 0.30  # (VO2 - 18)/4.5
    aerobic_capacity_pct: float = 70.0  # %HRmax where the intensity penalty bends
    capacity_per_vo2_sd: float = 3.0
    capacity_per_adaptation: float = 3.0
    intensity_scale_pct: float = 6.0
    intensity_weight: float = 0.9
    minutes_capacity: float = 35.0
    minutes_scale: float = 12.0
    minutes_weight: float = 0.5
    resistance_capacity_pct: float = 60.0
    resistance_capacity_per_strength_sd: float = 4.0
    resistance_capacity_experienced: float = 6.0
    resistance_capacity_none: float = -6.0
    resistance_capacity_per_adaptation: float = 3.0
    resistance_capacity_per_ecog: float = -2.0
    resistance_scale_pct: float = 6.0
    resistance_weight: float = 0.8
    per_set_over_2: float = -0.35
    per_rep_over_12: float = -0.03
    per_strength_sd: float = 0.2
    per_ecog: float = -0.35
    per_fatigue_over_3: float = -0.18
    post_infusion: float = -0.5  # times the fatigue-bump shape (0-1)
    per_hb_below_11: float = -0.35
    platelets_below_50: float = -0.4
    anc_below_1: float = -0.3
    per_decade_over_60: float = -0.12
    sarcopenia_aerobic: float = -0.25
    sarcopenia_resistance: float = -0.35
    per_adaptation: float = 0.35
    per_pain_over_2: float = -0.08
    bone_mets_resistance: float = -0.2
    lymphedema_resistance: float = -0.15
    neuropathy_aerobic: float = -0.1
    copd_aerobic: float = -0.2
    cvd: float = -0.1
    fever: float = -1.0
    # Extra logit noise per session. Day-to-day variation is carried by the Bernoulli draw of the
    # outcome itself (irreducible for the oracle too), so no second layer of noise: 0.
    daily_sd: float = 0.0
    # The tolerance trait shows in perceived exertion: RPE points lower per SD of the trait, at the
    # same relative dose (assumption; does not change the label, only where in the band RPE lands).
    rpe_per_trait_sd: float = 1.0


@dataclass(frozen=True)
class Attendance:
    """Logit of p_attend for a planned session (assumptions tuned to section 8 attendance)."""

    # Attendance 70-88% (Courneya 2007/2013, Nilsen 2018 79%, Scott 2018 ~75-80%). Withdrawn
    # patients are no longer booked, so this is attendance of booked sessions (~0.80); counting
    # weeks after withdrawal as missed gives ~0.75, SD 0.21 across patients (Courneya 2014 IJBNPA:
    # 73%, SD 24%).
    base: float = 2.15
    per_motivation: float = 1.0
    # Fitter patients attend more: VO2peak (r = 0.21) and strength predicted supervised-exercise
    # adherence during chemotherapy (Courneya 2008, MSSE 40:1180); per (VO2peak - 18)/4.5.
    per_vo2_sd: float = 0.3
    # Symptom burden lowers adherence (Courneya 2014: endocrine symptoms, exercise limitations;
    # Bland 2018: quality of life); fatigue is the most reported barrier. Assumption.
    per_fatigue_over_3: float = -0.25
    # Kirkham (V): attendance the week after chemo 57% (linear) vs 77% (periodised).
    post_infusion: float = -0.9  # times exp(-day/decay)
    post_infusion_decay_days: float = 3.5
    post_infusion_per_10pct_over_64: float = -0.3
    per_burden: float = -0.35  # (weekly moderate-equivalent minutes)/150 - 1
    per_recent_intolerance: float = -0.8
    sarcopenia_on_chemo: float = -0.3  # toxicity RR 1.47 (Couderc 2023, V)
    per_ecog: float = -0.15
    per_pain_over_2: float = -0.08
    fever: float = -2.5
    vomiting: float = -2.0  # on the clinic-visit day (recorded); else part of the coin flip
    daily_sd: float = 0.0  # as Tolerance.daily_sd: day-to-day variation is the Bernoulli draw


@dataclass(frozen=True)
class Motivation:
    """Weekly motivation dynamics and dropout hazard (assumptions tuned to section 8)."""

    drift_per_week: float = -0.02
    per_tolerated_share: float = 0.3  # times (tolerated share - 0.75) when any session attended
    moderate_ae: float = -0.5
    serious_ae: float = -1.0
    sd_per_week: float = 0.02  # unexplained weekly change; recorded events drive the rest
    # The effect of an experience (tolerated share, AE) on motivation fades: weekly keep 0.75,
    # half-life ~2.4 weeks (assumption; a setback is not a permanent loss of motivation).
    memory_keep: float = 0.75
    intolerance_keep: float = 0.5  # EMA of the weekly intolerant share
    # Dropout (stopped for good): Nilsen 2018 24% stopped permanently, Singh 2020 12% withdrawal,
    # Scott 2018 11% lost (V). Withdrawal is recorded: from its week on, the clinic books no more
    # sessions (snapshots continue). Weekly hazard logit:
    dropout_base: float = -5.2
    dropout_per_motivation: float = -0.9
    dropout_per_intolerance: float = 1.5
    dropout_moderate_ae: float = 1.0
    dropout_serious_ae: float = 2.5
    dropout_per_ecog: float = 0.15
    dropout_per_fatigue_over_3: float = 0.08
    ecog_worsen_advanced_p: float = 0.006  # per week, stage IV or palliative
    ecog_improve_p: float = 0.004  # per week, others


@dataclass(frozen=True)
class AdverseEvents:
    """Adverse events given an attended session (section 8: minor few %, serious <1% of people)."""

    mild_if_tolerated: float = 0.025
    mild_if_not: float = 0.08
    # Given not tolerated: P(moderate), P(serious) = base * exp(w * risk), risk = dose overload
    # above capacity + bad labs (project assumption; Thomsen 2023 SAE RR, Weller 2021 0.5%).
    moderate_base: float = 0.025
    moderate_risk_w: float = 0.5
    moderate_cap: float = 0.3
    serious_base: float = 0.00012
    serious_risk_w: float = 0.6
    serious_cap: float = 0.02
    lab_risk_hb_below_9: float = 1.0
    lab_risk_plt_below_50: float = 1.0
    lab_risk_anc_below_1: float = 0.5
    # How an intolerant session without a moderate/serious AE shows: stopped early vs RPE too high.
    early_stop_p: float = 0.45
    early_stop_also_high_rpe_p: float = 0.4
    full_completion_p: float = 0.8  # tolerated: completes 100% (else 90-99%)


@dataclass(frozen=True)
class Observation:
    """What the clinic records: missingness and measurement noise (assumptions)."""

    vitals_missing_p: float = 0.03
    labs_missing_p_chemo: float = 0.08
    labs_missing_p_other: float = 0.30
    symptoms_missing_p: float = 0.04
    vo2_missing_p: float = 0.15
    walk_missing_p: float = 0.20
    grip_missing_p: float = 0.10
    vo2_cv: float = 0.05  # CPET test-retest
    walk_sd: float = 25.0  # test-retest (Schmidt 2013: ICC 0.93, limits of agreement -43/+76 m)
    # 6MWT metres per SD of the tolerance trait: the walk reflects functional tolerance (gait,
    # symptom limitation), not VO2peak alone; brings r(6MWT, VO2peak) to ~0.75 (Schmidt 2013:
    # r = 0.67 in cancer patients; 0.65 in a 2023 pre-operative cancer cohort).
    walk_per_trait_sd: float = 120.0
    grip_sd: float = 1.5
    hb_sd: float = 0.2
    count_cv: float = 0.05
    rhr_sd: float = 3.0
    bp_sd: tuple[float, float] = (6.0, 4.0)
    session_hr_missing_p: float = 0.05
    session_symptom_missing_p: float = 0.03


@dataclass(frozen=True)
class DefaultPlan:
    """Open-loop data-generating dose: guideline dose with random variation (Campbell 2019)."""

    aerobic_sessions: tuple[int, ...] = (1, 2, 3, 4, 5)
    aerobic_sessions_p: tuple[float, ...] = (0.08, 0.2, 0.42, 0.2, 0.1)
    aerobic_minutes_mean: float = 30.0
    aerobic_minutes_sd: float = 10.0
    aerobic_minutes_range: tuple[float, float] = (15.0, 60.0)
    aerobic_pct_mean: float = 70.0  # middle of moderate 64-76% HRmax (section 5)
    aerobic_pct_sd: float = 8.0
    aerobic_pct_range: tuple[float, float] = (50.0, 85.0)
    resistance_sessions: tuple[int, ...] = (0, 1, 2, 3)
    resistance_sessions_p: tuple[float, ...] = (0.1, 0.3, 0.45, 0.15)
    resistance_sets: tuple[int, ...] = (1, 2, 3)
    resistance_sets_p: tuple[float, ...] = (0.25, 0.5, 0.25)
    resistance_reps_range: tuple[int, int] = (8, 15)
    resistance_pct_mean: float = 55.0
    resistance_pct_sd: float = 12.0
    resistance_pct_range: tuple[float, float] = (30.0, 80.0)
    # ECOG >= 3: light supervised dose (guidelines.md section 3 suggested rule).
    light_aerobic_sessions: int = 2
    light_aerobic_minutes: tuple[float, float] = (15.0, 20.0)
    light_aerobic_pct: tuple[float, float] = (50.0, 56.0)
    light_resistance_pct: tuple[float, float] = (30.0, 40.0)
    # A patient's booked weekly schedule (sessions per modality) is kept from last week with this
    # probability (clinics book recurring slots; assumption); minutes, intensity, sets and reps
    # are still drawn afresh every week, so dose-response stays identifiable within patients.
    schedule_keep_p: float = 0.85


@dataclass(frozen=True)
class SimParams:
    """All simulator parameters; pass a modified copy to `Simulator(params=...)` for what-ifs."""

    mix: CohortMix = field(default_factory=CohortMix)
    baseline: Baseline = field(default_factory=Baseline)
    chemo: Chemo = field(default_factory=Chemo)
    training: Training = field(default_factory=Training)
    tolerance: Tolerance = field(default_factory=Tolerance)
    attendance: Attendance = field(default_factory=Attendance)
    motivation: Motivation = field(default_factory=Motivation)
    ae: AdverseEvents = field(default_factory=AdverseEvents)
    obs: Observation = field(default_factory=Observation)
    plan: DefaultPlan = field(default_factory=DefaultPlan)


PARAMS = SimParams()


@dataclass(frozen=True)
class Target:
    """One published calibration target: the range the simulated figure must fall in."""

    low: float
    high: float
    source: str


# Calibration targets (guidelines.md section 8 unless noted); used by training/calibration.py.
TARGETS: dict[str, Target] = {
    "attendance": Target(
        0.65, 0.88, "Courneya 2007 70%; CARE 78-88%; Nilsen 2018 79%; Scott 2018 ~75-80%"
    ),
    "stopped_by_week_12": Target(
        0.08, 0.30, "Nilsen 2018 24% stopped; Singh 2020 12% (0-22%); Scott 2018 11%"
    ),
    "sarcopenia": Target(0.30, 0.45, "Couderc 2023 meta-analysis 38.0%"),
    "serious_ae_patients": Target(0.0, 0.01, "section 8: serious AE <1% of participants"),
    "breast_vo2peak": Target(16.0, 20.0, "Jones 2012: 17.8 +/- 4.3 mL/kg/min"),
    "tolerance_rate": Target(
        0.60, 0.90, "project assumption (Nilsen 2018: 10% dose-reduced, 3% stopped early)"
    ),
    "p_tolerate_auroc": Target(0.70, 0.92, "project assumption: learnable, not trivial"),
    "fatigue_peak_day": Target(3.0, 5.0, "Kirkham: fatigue peak days 3-5 after infusion"),
    "fatigue_rise": Target(1.0, 2.5, "Kirkham: 3.2 baseline -> 5.1 peak (+1.9)"),
    "vo2_change_12wk": Target(2.0, 3.0, "Scott 2018 +2.80 (WMD 2.13); Jones 2011 +2.90"),
    "mild_ae_rate": Target(0.01, 0.08, "section 8: minor AE a few % of sessions"),
    "moderate_ae_rate": Target(0.0, 0.02, "project assumption: rarer than mild"),
    "hold_weeks": Target(0.005, 0.08, "project assumption: small but non-zero"),
    "refer_weeks": Target(0.03, 0.25, "project assumption; Whitfield 2017 high referral"),
}
