"""Patient generation: static attributes and baseline latent state, from the patients stream only.

Depends on nothing but (seed, n_patients) and the parameters, so every policy arm of a closed-loop
comparison sees exactly the same people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.sim_params import CANCER_TYPES, COMORBIDITIES, PHASES, SITES, SimParams

STAGES = ("I", "II", "III", "IV")
EXPERIENCE = ("none", "novice", "experienced")


@dataclass
class Cohort:
    """Static attributes and baseline latent state of every patient (numpy arrays, length n)."""

    patient_id: np.ndarray
    cancer: np.ndarray  # index into CANCER_TYPES
    stage: np.ndarray  # index into STAGES
    sex: np.ndarray  # "female" | "male" | "unknown"
    female: np.ndarray
    age: np.ndarray
    height: np.ndarray
    weight: np.ndarray
    mets: np.ndarray  # bool (n, len(SITES))
    phase: np.ndarray  # index into PHASES
    on_infusion: np.ndarray
    cycle_len: np.ndarray
    cycle_offset: np.ndarray
    cycles_before: np.ndarray
    ecog: np.ndarray
    comorb: np.ndarray  # bool (n, len(COMORBIDITIES))
    clearance: np.ndarray
    experience: np.ndarray  # index into EXPERIENCE
    sarcopenia: np.ndarray
    sarcopenia_observed: np.ndarray  # float 1/0/NaN
    vo2: np.ndarray
    strength: np.ndarray
    motivation: np.ndarray
    trait: np.ndarray
    responder: np.ndarray
    fatigue0: np.ndarray
    pain0: np.ndarray
    hb0: np.ndarray
    anc0: np.ndarray
    plt0: np.ndarray
    anc_depth: np.ndarray
    plt_depth: np.ndarray
    rhr0: np.ndarray
    sbp0: np.ndarray
    dbp0: np.ndarray
    spo2_0: np.ndarray
    temp0: np.ndarray
    beta_blocker: np.ndarray
    hrmax: np.ndarray
    mets_str: np.ndarray
    comorb_str: np.ndarray

    def has(self, comorbidity: str) -> np.ndarray:
        return self.comorb[:, COMORBIDITIES.index(comorbidity)]

    def site(self, site: str) -> np.ndarray:
        return self.mets[:, SITES.index(site)]


def _join(flags: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Bool matrix -> ';'-joined names per row ('' for none), the table's list encoding."""
    out = np.full(flags.shape[0], "", dtype=object)
    for j, name in enumerate(names):
        col = flags[:, j]
        out[col] = np.where(out[col] == "", name, out[col] + ";" + name)
    return out


def generate_cohort(n: int, seed: int, rng: np.random.Generator, p: SimParams) -> Cohort:
    """Draw n patients; every draw has a fixed shape so the stream is reproducible."""
    mix, base = p.mix, p.baseline
    cancer = rng.choice(len(CANCER_TYPES), size=n, p=np.asarray(mix.cancer_type_p))
    stage = rng.choice(4, size=n, p=np.asarray(mix.stage_p))
    u_sex, u_unknown = rng.random(n), rng.random(n)
    female = u_sex < np.asarray(mix.female_p)[cancer]
    sex_specific = np.isin(cancer, [CANCER_TYPES.index(c) for c in ("breast", "prostate")])
    unknown = (u_unknown < mix.unknown_sex_p) & ~sex_specific
    sex = np.where(unknown, "unknown", np.where(female, "female", "male")).astype(object)
    age = np.clip(
        np.round(
            np.asarray(mix.age_mean)[cancer]
            + np.asarray(mix.age_sd)[cancer] * rng.standard_normal(n)
        ),
        18,
        95,
    ).astype(int)

    # Metastatic sites: stage IV only, at least one site (the most likely one if none drawn).
    site_p = np.array([mix.met_site_p[c] for c in CANCER_TYPES])[cancer]
    mets = (rng.random((n, len(SITES))) < site_p) & (stage == 3)[:, None]
    none = (stage == 3) & ~mets.any(axis=1)
    mets[none, np.argmax(site_p[none], axis=1)] = True

    # Treatment phase: base weights adjusted by type and stage.
    w = np.tile(np.asarray(mix.phase_w, dtype=float), (n, 1))
    ph = {name: i for i, name in enumerate(PHASES)}
    w[cancer == CANCER_TYPES.index("prostate"), ph["hormone_therapy"]] *= mix.prostate_hormone_x
    w[cancer == CANCER_TYPES.index("breast"), ph["hormone_therapy"]] *= mix.breast_hormone_x
    w[stage == 3, ph["palliative"]] *= mix.stage4_palliative_x
    w[stage == 3, ph["post_treatment"]] *= mix.stage4_post_treatment_x
    w[stage == 0, ph["chemotherapy"]] *= mix.stage1_chemo_x
    w[stage == 0, ph["palliative"]] = 0.0
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    phase = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), len(PHASES) - 1)
    palliative_chemo = rng.random(n) < mix.palliative_chemo_p
    on_infusion = (phase == ph["chemotherapy"]) | ((phase == ph["palliative"]) & palliative_chemo)
    cycle_len = rng.choice(np.asarray(mix.cycle_days), size=n, p=np.asarray(mix.cycle_days_p))
    cycle_offset = (rng.random(n) * cycle_len).astype(int)
    cycles_before = rng.integers(0, mix.cycles_before_max + 1, size=n)

    ecog = rng.choice(5, size=n, p=np.asarray(mix.ecog_p))
    advanced = (stage == 3) | (phase == ph["palliative"])
    ecog = np.minimum(ecog + ((rng.random(n) < mix.ecog_worse_advanced_p) & advanced), 4)

    cp = np.tile(np.asarray(mix.comorb_p, dtype=float), (n, 1))
    cm = {name: i for i, name in enumerate(COMORBIDITIES)}
    ct = {name: i for i, name in enumerate(CANCER_TYPES)}
    cp[:, cm["cardiovascular_disease"]] += mix.cvd_per_year_over_60 * np.maximum(age - 60, 0)
    cp[phase == ph["hormone_therapy"], cm["osteoporosis"]] += mix.osteoporosis_hormone_add
    cp[on_infusion, cm["peripheral_neuropathy"]] += mix.neuropathy_chemo_add
    cp[cancer == ct["breast"], cm["lymphedema"]] += mix.lymphedema_breast_add
    gyn_hn = np.isin(cancer, [ct["gynecologic"], ct["head_neck"]])
    cp[gyn_hn, cm["lymphedema"]] += mix.lymphedema_gyn_hn_add
    cp[cancer == ct["lung"], cm["copd"]] += mix.copd_lung_add
    cp[cancer == ct["head_neck"], cm["copd"]] += mix.copd_head_neck_add
    cp[cancer == ct["colorectal"], cm["ostomy"]] += mix.ostomy_colorectal_add
    cp[cancer == ct["gynecologic"], cm["ostomy"]] += mix.ostomy_gyn_add
    comorb = rng.random((n, len(COMORBIDITIES))) < cp

    clearance = rng.random(n) < mix.medical_clearance_p
    experience = rng.choice(3, size=n, p=np.asarray(mix.experience_p))

    high_risk = np.isin(cancer, [ct[c] for c in mix.sarc_high_risk_types])
    sarc_logit = (
        mix.sarc_intercept
        + mix.sarc_per_decade_over_60 * (age - 60) / 10
        + mix.sarc_stage4 * (stage == 3)
        + mix.sarc_high_risk_add * high_risk
    )
    sarcopenia = rng.random(n) < 1 / (1 + np.exp(-sarc_logit))
    sarc_obs = np.where(
        rng.random(n) < mix.sarc_observed_missing_p, np.nan, sarcopenia.astype(float)
    )

    # Body size.
    male = sex == "male"
    height = np.where(
        male,
        base.height_male[0] + base.height_male[1] * rng.standard_normal(n),
        base.height_female[0] + base.height_female[1] * rng.standard_normal(n),
    )
    height = np.clip(height, 140, 205)
    bmi = np.clip(
        base.bmi[0] + base.bmi[1] * rng.standard_normal(n) + base.bmi_sarcopenia * sarcopenia,
        16,
        45,
    )
    weight = bmi * (height / 100) ** 2

    on_treatment = on_infusion | (phase == ph["palliative"])
    has = {name: comorb[:, i] for name, i in cm.items()}
    vo2 = (
        base.vo2_intercept
        + base.vo2_male * male
        + base.vo2_per_year * (age - 55)
        + base.vo2_per_ecog * ecog
        + base.vo2_stage4 * (stage == 3)
        + base.vo2_sarcopenia * sarcopenia
        + base.vo2_copd * has["copd"]
        + base.vo2_cvd * has["cardiovascular_disease"]
        + base.vo2_on_treatment * on_treatment
        + base.vo2_sd * rng.standard_normal(n)
    )
    vo2 = np.clip(vo2, *base.vo2_bounds)
    strength = (
        np.where(male, base.strength_male, base.strength_female)
        + base.strength_per_year_over_50 * np.maximum(age - 50, 0)
        + base.strength_per_ecog * ecog
    )
    strength = np.where(sarcopenia, strength * base.strength_sarcopenia_x, strength)
    strength = np.clip(strength * (1 + base.strength_cv * rng.standard_normal(n)), 5, 80)
    motivation = (
        base.motivation_sd * rng.standard_normal(n)
        + base.motivation_novice * (experience == 1)
        + base.motivation_experienced * (experience == 2)
    )
    trait = base.tolerance_trait_sd * rng.standard_normal(n)
    responder = np.exp(base.responder_sd * rng.standard_normal(n) - base.responder_sd**2 / 2)
    fatigue0 = np.clip(
        base.fatigue_base
        + base.fatigue_per_ecog * ecog
        + base.fatigue_sarcopenia * sarcopenia
        + base.fatigue_sd * rng.standard_normal(n),
        0,
        8,
    )
    bone = mets[:, SITES.index("bone")]
    pain0 = np.clip(
        base.pain_base
        + base.pain_bone * bone
        + base.pain_arthritis * has["arthritis"]
        + base.pain_per_ecog * ecog
        + base.pain_sd * rng.standard_normal(n),
        0,
        8,
    )
    hemat = cancer == ct["hematologic"]
    hb0 = (
        np.where(female, base.hb_female, base.hb_male)
        + base.hb_hematologic * hemat
        + base.hb_on_treatment * on_treatment
        + base.hb_sd * rng.standard_normal(n)
    )
    hb0 = np.clip(hb0, 8.5, 18)
    counts_x = np.where(hemat, base.hematologic_counts_x, 1.0)
    anc0 = base.anc_median * np.exp(base.anc_log_sd * rng.standard_normal(n)) * counts_x
    plt0 = np.clip(base.plt_mean + base.plt_sd * rng.standard_normal(n), 120, 500) * counts_x
    ch = p.chemo
    anc_depth = np.where(
        hemat,
        rng.beta(*ch.anc_depth_beta_hematologic, size=n),
        rng.beta(*ch.anc_depth_beta, size=n),
    )
    plt_depth = np.where(
        hemat,
        rng.beta(*ch.plt_depth_beta_hematologic, size=n),
        rng.beta(*ch.plt_depth_beta, size=n),
    )
    rhr0 = (
        base.rhr_base
        + base.rhr_per_vo2_below_20 * np.maximum(20 - vo2, 0)
        + base.rhr_sd * rng.standard_normal(n)
    )
    rhr0 = np.clip(rhr0, 45, 110)
    sbp0 = (
        base.sbp_base
        + base.sbp_per_year * (age - 55)
        + base.sbp_cvd * has["cardiovascular_disease"]
        + base.sbp_targeted * (phase == ph["targeted_therapy"])
        + base.sbp_sd * rng.standard_normal(n)
    )
    sbp0 = np.clip(sbp0, 90, 195)
    dbp0 = np.clip(
        base.dbp_base + 0.25 * (sbp0 - base.sbp_base) + base.dbp_sd * rng.standard_normal(n),
        50,
        108,
    )
    lung = (cancer == ct["lung"]) | mets[:, SITES.index("lung")]
    spo2_0 = np.clip(
        base.spo2_base
        + base.spo2_copd * has["copd"]
        + base.spo2_lung * lung
        + base.spo2_sd * rng.standard_normal(n),
        88.5,
        100,
    )
    temp0 = base.temp_base + base.temp_sd * rng.standard_normal(n)
    beta_blocker = has["cardiovascular_disease"] & (rng.random(n) < base.beta_blocker_given_cvd_p)
    hrmax = 208 - 0.7 * age  # Tanaka 2001 age-predicted HRmax

    return Cohort(
        patient_id=np.array([f"s{seed}-{i:06d}" for i in range(n)], dtype=object),
        cancer=cancer,
        stage=stage,
        sex=sex,
        female=female & ~unknown,
        age=age,
        height=np.round(height, 1),
        weight=weight,
        mets=mets,
        phase=phase,
        on_infusion=on_infusion,
        cycle_len=cycle_len,
        cycle_offset=cycle_offset,
        cycles_before=cycles_before,
        ecog=ecog.astype(int),
        comorb=comorb,
        clearance=clearance,
        experience=experience,
        sarcopenia=sarcopenia,
        sarcopenia_observed=sarc_obs,
        vo2=vo2,
        strength=strength,
        motivation=motivation,
        trait=trait,
        responder=responder,
        fatigue0=fatigue0,
        pain0=pain0,
        hb0=hb0,
        anc0=anc0,
        plt0=plt0,
        anc_depth=anc_depth,
        plt_depth=plt_depth,
        rhr0=rhr0,
        sbp0=sbp0,
        dbp0=dbp0,
        spo2_0=spo2_0,
        temp0=temp0,
        beta_blocker=beta_blocker,
        hrmax=hrmax,
        mets_str=_join(mets, SITES),
        comorb_str=_join(comorb, COMORBIDITIES),
    )
