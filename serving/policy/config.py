"""Policy parameters, tuned in the closed loop (the tuning record is in `PolicyConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

from features.settings import Settings


@dataclass(frozen=True)
class PolicyConfig:
    """Policy parameters.

    Tuned in the closed loop on seed 101 only (1,000 patients x 12 weeks, champions trained on
    5,000 x 16 seed 21; never on the evaluation seeds 5 and 6), by this rule: the most VO2peak in
    the base simulator such that moderate-or-serious AEs per 100 patients stay under the fixed
    guideline dose's in every stress scenario tried (long-sessions-harder, hidden-confounder,
    weak-dose-tolerance), with a margin of >= 2.5% for one seed's noise. Seed 101, fixed arm:
    base VO2peak 1.747 / strength 5.77% / AEs per 100 21.9; long 36.2; hidden 23.7; weak 12.4.
    Dosewise, VO2peak / strength / AEs per 100 (base) and AEs per 100 (long, weak):
      no guard, ratio 1.4 (session 3's value-first)  2.077 / 6.09 / 21.6   long 46.2  weak 12.9
      + minutes only after a tolerated week           2.027 / 6.26 / 21.9   long 38.7  weak 12.7
      + risk price 1.0                                 1.895 / 5.88 / 17.0   long 36.7
      risk price 0.5 + tolerance bound 0.65            1.946 / 6.07 / 19.5   long 37.1
      ... + step back below 50% tolerated (price 0.5)  1.911 / 6.12 / 19.4   long 34.2  weak 12.3
      ... the same with price 0.6 (the defaults)       1.894 / 6.08 / 19.0   long  -    weak 12.0
      ... the same with price 0.75                     1.867 / 5.99 / 18.3   long 33.8  weak 11.7
    Rejected: per-patient recalibration (`recalibration_prior_sessions` 3: base VO2peak 1.69,
    below fixed: the models already condition on the record, so it double-counts); an adaptive
    ratio by record (0.8 after any intolerance: base 1.67); a frequency cap of 3 aerobic sessions
    (long 42.8: longer sessions instead); a cap of 35-40 min per session (long 37-39); stepping
    minutes back after any week not tolerated (base 1.59); an absolute weekly bound (0.6-0.9
    intolerant sessions: long 46); session 3's exposure guard (base 1.78, strength 3.9%).
    What the defaults still miss on the evaluation seeds is in the README (closed-loop section).
    `tolerance_threshold` and `adherence_threshold` come from `Settings` in the service (same
    defaults).
    Session 5 (same rule, plus: every subgroup's VO2peak within 0.1 of the fixed dose's; seed 101
    fixed subgroups: on chemotherapy 1.164, ECOG 2 1.619). From the defaults above:
      + generic session floor (bound never stricter    1.930 / 6.23 / 20.0   chemo -0.08 ECOG2 -0.24
        than the generic dose's own prediction)
      + step back not below 30 min                     1.975 / 6.19 / 20.0   long 38.6  ECOG2 -0.13
      + diminishing returns (exponent 0.7)             2.012 / 6.18 / 19.2   long 38.6  weak 12.0
      diminishing returns alone                        1.932 / 6.09 / 18.7   long 34.5  ECOG2 -0.30
      ... with the floor only where the kernel already 1.987 / 6.22 / 19.4   long 36.7  subgr. ok
          cut the session to the generic length
      ... + longer sessions need P(tolerate) >= 0.85   1.952 / 6.28 / 20.0   long 35.3  weak 11.7
          (the defaults; hidden 20.3, advanced 18.8, intensity-driven 20.0: all under fixed;
          subgroups chemo -0.02, stage IV +0.01, sarcopenic +0.09, ECOG2 -0.08, >= 70 +0.10)
      ... with 0.8 instead of 0.85                     1.969 / 6.23 / 19.4   long 35.9 (margin 0.8%)
      ... with weekly ratio 2.0 (at target 32%)        1.967 / 7.28 / 21.3   long 40.4
    AE decomposition of the step-back floor's long-sessions excess (per patient, same cohort):
    +67 aerobic AEs in ECOG 0-1 patients progressed to 30-45 min sessions, -13 in the frail kept
    at 30 min; capping minutes at 40 or growing them 5 min a week did not move it (long 38.4); a
    higher bar for longer sessions did. Rejected: risk price 1.0 (subgroups worse: ECOG2 -0.27).
    Session 6 (same rule, on three tuning seeds 101-103, because one seed's margin did not hold
    on the evaluation seed: the session-5 defaults had long-sessions-harder AEs over fixed on
    seed 103 as on seed 5). Fixed arm AEs per 100, base / long / weak: s102 21.8 / 36.6 / 11.0,
    s103 19.3 / 33.1 / 11.1. Dosewise VO2peak x fixed, AEs per 100 base / long / weak, at target:
      session-5 defaults      s102 x1.113  18.5 / 34.9 / 10.6  21%   s103 x1.117 18.0/33.5/10.7
      + frequency first       s102 x1.107  19.0 / 34.1 / 10.9  10%   s103 x1.108 18.4/30.7/11.0
      ... + 2 resistance      s102 x1.120  20.0 / 34.8 / 11.1  22%   s103 x1.125 17.2/29.7/10.6
          sessions until the aerobic target (the defaults; s101 x1.128, AEs 20.2 / -, 24%;
          every subgroup within 0.03 of fixed or above; strength +0.26 to +0.33 points)
      ... with aerobic weight 2.5 s102 x1.143  19.8 / 35.1 / 11.2  21%   s103 x1.151 17.7/30.6/10.8
          (VO2peak goal met on the tuning seeds, but thinner AE and strength margins: not taken)
      ... with risk price 0.7    s102 x1.104  20.1 / -    / 10.9
    Frontier read from the simulator's true probabilities at week 0 (2,000 patients, seed 101),
    AEs per 100 patient-weeks of 3 x 30 min -> 5 x 30 / 3 x 50 min at 70% HRmax: base 1.97 ->
    3.18 / 3.27; long-sessions-harder 4.83 -> 7.83 / 17.71; weak-dose-tolerance 0.96 -> 1.56 /
    1.05: length is cheap only where the models' dose-response holds; frequency costs about the
    same everywhere. The weak-dose-tolerance world stays AE-neutral (+1% to -5% vs fixed) for
    every variant that keeps the VO2peak gain: there dose barely matters, so only fewer sessions
    save adverse events (risk price 0.9: -11%, but VO2peak x1.06 and subgroups under fixed).
    Rejected in session 6: a "trust but verify" gate (no step up while the record is more
    intolerant than predicted: long 34.1 vs 35.3, base x1.094); a convex risk price (frail weeks
    dearer: AEs -24% but VO2peak x1.06 and strength under fixed); growing length to 35 min
    before frequency (weak +0%, long -2%).
    Session 7 (same rule; stress margins also on seeds 104-106, fixed long-sessions-harder AEs
    36.4 / 36.9 / 35.4; fixed sarcopenic strength on 101-103 3.87 / 4.51 / 4.19%). After the
    candidate features read an absent modality as training does (NaN, not 0), the session-6
    defaults gave x1.124 / 1.117 / 1.123, long -6 / -5 / -10%, weak -3 / +1 / -2%, sarcopenic
    strength over fixed +0.01 / +0.02 / +0.11 points. Variants, s101-103:
      robust price (a dose lighter than the generic one not assumed safer per session)
                                 base AEs up (s102 21.1 vs 19.6), long -2% (s102): rejected
      more sessions than the generic only at its P(tolerate) >= 0.85 / 0.9
                                 VO2peak -2% / -4%, weak AEs -0.3 / 0 per 100: rejected
      weekly risk ratio 1.2 / 1.0  at target 5% / 0%, VO2peak x1.06 / x0.98, weak unchanged
      aerobic weight 2.5 / 3.0   x1.14-1.15 / x1.15-1.16, but long -2% / -2% on s101 and, at
                                 3.0, sarcopenic strength under fixed (s101 3.60 vs 3.87)
      ... 3.0 with resistance_first_weight 1.5: sarcopenic ok, long -1% (s101)
      aerobic 2.25, resistance first 1.25: x1.135 / 1.126 / 1.133, long -5 / -6 / -7%, but
                                 -11 / -9 / -0.6% on s104-106 (margin missed on s106)
      aerobic 2.0, resistance first 1.25 (the defaults): x1.120 / 1.114 / 1.117 (s104-106
                                 x1.113 / 1.112 / 1.121), long -6 / -6 / -8% (-13 / -8 / -4%),
                                 weak -2 / +4 / +3%, sarcopenic strength +0.20 / +0.26 / +0.37
    Weak-dose-tolerance anatomy (s101, sessions by their true P(tolerate)): Dosewise adds ~4,500
    attended sessions where P(tolerate) >= 0.85 (0.1-0.4% moderate+ AEs each) and removes ~770
    below it (0.3-2% each): safer per session, not per patient. The oracle arm, with the true
    probabilities, is over fixed there too (seed 5: 11.5 vs 10.5): inside these bounds more
    fitness means more sessions, and in that world every session costs about the same.
    Session 8 (same rule, seeds 101-103; stress margins also on 104-106). An arm that takes the
    kernel's limit every week (4 x up to 60 min moderate + 2 resistance, clamped) has 66% of
    eligible patients at the guideline target on s101 (VO2peak x1.44, AEs +37%): the target is
    not kernel-bound. What kept patients off it: the 5th aerobic session took the 2nd resistance
    session's slot under the 6-a-week cap (5 x 30 min + 1 resistance is not the target). Dosewise
    VO2peak x fixed, at target, AEs per 100 vs fixed base / long / weak, strength (sarcopenic)
    points over fixed, per seed s101 / s102 / s103:
      session-7 defaults        x1.120/1.113/1.118  22/19/21%  long -6/-6/-9%  weak -2/+4/+3%
                                 str +0.38-0.48 (sarc +0.20-0.37)
      max 4 aerobic sessions    x1.116/1.110/1.116  33/31/32%  long -4/-7/-8%  weak -2/+4/+3%
      ... no frequency first    x1.129/1.120/1.129  31-33%     long +1/-4/-0%  weak -7/-2/+2%
      ... + risk price 0.7      x1.112/1.110/1.116  30-33%     long -4/-6/-4%  weak -10/-5/-1%
                                 (ECOG 2 subgroup -0.11 on s101)
      ... + aerobic weight 2.5  x1.141/1.133/1.143  31-33%     long +1/-2/-3%  weak -8/-5/0%
      ... + longer sessions step back below 0.75 tolerated (`longer_step_back_below_rate`)
                                x1.131/1.126/1.132  26-27%     long -3/-5/-5%  weak -8/-5/-1%
      max 4, risk price 0.7, aerobic weight 2.5 (frequency first)
                                x1.131/1.124/1.132  30-33%     long -5/-6/-8%  weak -4/0/0%
      max 4, price 0.8, aerobic 3.0, resistance first 1.5 (the defaults)
                                x1.137/1.132/1.141  31-33%     long -3/-7/-9%  weak -4/-2/-1%
                                 str +0.26-0.29 (sarc +0.12-0.21), every subgroup >= fixed
      max 4, price 0.9, aerobic 3.5, resistance first 1.5
                                x1.147/1.139/1.150  32-34%     long -3/-7/-8%  weak -4/-1/+1%
                                 but sarcopenic strength under fixed (-0.01 to -0.04): rejected
    Rejected too: the rise gate at 0.75 on the defaults (x1.141/1.137/1.147, at target 33-35%,
    but long +0.3% on s101) and at 0.7 (long margin 2-3%); longer sessions stepping back below
    0.75 tolerated on the defaults (long -3.6% on s101 and -2.0% on s106 instead of -2.8% and
    -1.1%, but at target 29-31% instead of 31-33%; s104-106 with the defaults: long -10 / -13 /
    -1%, weak -3 / -1 / +8%, where the session-7 defaults had weak +2 / -3 / +8%); a 40-45 min
    cap with length before frequency (long +2% on s101); a bigger target bonus (1.5 and 2.0: no
    decision moved - a week that meets the target, once the gates allow it, already wins); weeks
    keeping 2 resistance sessions ranked before any with fewer (strength +0.47-0.49 points, but
    VO2peak x1.116/1.105/1.121 and at target 29-30%: the 2nd session takes the weekly bound's
    room from aerobic minutes).
    Weight and price rise together: the aerobic weight buys VO2peak, the price buys it back in
    adverse events where they are likeliest, and sarcopenia's resistance weight keeps their
    strength; past 3.0 / 0.8 the sarcopenic patients pay for the fitness.
    Session 9 (same rule and seeds, now `dosewise tune-policy`; the switches tried were not kept,
    their diff is in the session note). VO2peak x fixed, AEs per 100 vs fixed long / weak:
      defaults                  x1.137/1.132/1.141  long -3/-7/-9%   weak -4/-2/-1%
      longer sessions before more of them for a patient whose 14-day aerobic intolerance,
      shrunk toward the prediction by 2 sessions, is at most 1.3 x the predicted
                                x1.146/1.139/1.148  long -1/-5/-5%   weak -6/-4/-1%
      ... and only with mean RPE at least 0.5 under the band's top (sessions felt easy)
                                x1.142/1.138/1.146  long -3/-6/-7%   weak -3/-3/0%
      ... RPE alone (<= 0)      x1.145/1.139/1.148  long -1/-5/-4%   weak -7/-5/-2%
      ... + a 4th session only at 50 min         x1.112-1.119, long +1/-3/-5%
      ... + longer sessions step back at RPE >= 0.3 over the band: at target 22-25%
      aerobic 3.5, price 0.9, resistance first 2.0  x1.145/1.135/1.146  weak -2/+3/+4%
      aerobic 5, price 1.0, resistance first 2.5    x1.162/1.153/1.166  weak +1/+6/0%, strength
                                 -0.07 points under fixed
      ... price 0.8, weekly ratio 1.6               x1.174/1.167/1.181  base AEs -1/-1/+4%
      frequency first off       x1.147/1.140/1.151  long +2/-4/-1%   weak -7/-5/-2%
      ... + sessions of at most 45 min: the same VO2peak, long +2/-3/-1%
      a dose-neutral price per attended session x the generic dose's predicted intolerance
      (what a session costs when the dose-response is wrong), 0.1
                                x1.127/1.123/1.129  long -6/-7/-9%   weak -7/-4/-1%
      ... 0.25 with aerobic 4, resistance first 2   x1.145/1.137/1.147  long -2.5/-7/-7%  weak
                                 -2/-6/0%; at 1.0 VO2peak x1.01 and strength under fixed
    None kept: VO2peak >= 1.15 x needs an aerobic weight near 5 (the oracle arm with these
    weights reaches 1.141 x on seed 5), and there the weak-dose-tolerance AEs go over fixed and
    strength under it. The two stress worlds pull opposite ways (fewer, longer sessions lower the
    weak world's AEs and raise the long world's), and one patient's record tells them apart
    slowly: at ~10% intolerant sessions, a quarter of long-world patients show none in 14 days.
    Session 10: intensity as the lever both stress worlds might spare (the weak world discounts
    it, the long world does not punish it more than the base): the objective's aerobic dose x
    (VO2R / VO2R at 70% HRmax) ** (g - 1), harder minutes counting more, g = 2
                                x1.134/1.126/1.133  long +0/-2/-3%   weak -5/-4/-2%, at target
                                 25-28%, sarcopenic strength under fixed on s101-102
      ... + 5% HRmax rises (was 3)  x1.136/1.127/1.134  long -1/-2/-0%  weak -2/-2/+1%
    Not kept: in the base and long worlds intensity costs more tolerance per unit of stimulus
    than frequency (the overloads add, and an intolerant session's AE risk grows with overload),
    so it trades the long margin for the weak one, as length does.
    """

    # Risk bound 1: P(tolerate) of every prescribed session type at least this.
    tolerance_threshold: float = 0.65
    # ... but never stricter than the generic dose's own predicted tolerance for this patient
    # (`search.session_thresholds`): the fixed guideline dose is what the clinic gives without
    # Dosewise, so a patient predicted to find every dose hard keeps training at the generic
    # dose's risk instead of a deload (Campbell 2019: "avoid inactivity"; the weekly bound and the
    # price still apply). Without it the ECOG 2 and chemotherapy subgroups lost VO2peak vs fixed.
    generic_session_floor: bool = True
    # Aerobic sessions longer than the generic dose's (30 min) need at least this P(tolerate)
    # (0: off): longer sessions are the exposure no trial validated per patient and the first
    # thing a harder world punishes (CARE, Courneya 2013: completion fell from 88% at 25-30 min
    # to 82% at 50-60 min); stress scenario long-sessions-harder.
    longer_session_tolerance: float = 0.85
    # Aerobic volume grows by frequency before length: sessions longer than the generic 30 min
    # (or the current length, if longer) only at the most aerobic sessions a week the envelope
    # leaves beside the resistance sessions. Session length is the dose term a harder world
    # punishes first (stress scenario long-sessions-harder; CARE, Courneya 2013: completion fell
    # with session length), and 150 min as 5 x 30 min is the guideline's own example (PAG 2018;
    # ACS 2012); tuned as in the session 6 table above.
    frequency_first: bool = True
    # Sessions per week rise only when the predicted attendance of a session is at least this.
    adherence_threshold: float = 0.60
    # Risk bound 2: expected intolerant attended sessions per week (bounds moderate+ AEs) at most
    # `generic_risk_ratio` x that of the Campbell 2019 generic dose for the same patient this
    # week (the dose a clinic gives without Dosewise), and never above `max_weekly_intolerant`.
    # 1.0: an absolute budget - no more expected intolerant sessions than the generic dose.
    generic_risk_ratio: float = 1.4
    max_weekly_intolerant: float = 1.5
    # Objective weights per modality (normalised doses: the Campbell 2019 generic week = 1).
    # Aerobic 3: VO2peak is the outcome the guideline dose falls shortest on for these patients
    # (Scott 2018: +2.8 mL/kg/min with training), and one resistance reference week already
    # reaches the 2-3 sessions of Garber 2011; tuned with `risk_price` as in the session 8 table
    # (2.0 until session 7).
    aerobic_weight: float = 3.0
    light_credit: float = 0.5  # share of MET-minutes a light (< 64% HRmax) minute counts
    resistance_weight: float = 1.0
    # ... times this for a recorded sarcopenia (`Context.resistance_first`): there muscle is the
    # outcome that limits (Couderc 2023: mortality RR 1.97, toxicity RR 1.47) and resistance
    # training its treatment, so the aerobic weight must not buy fitness with their strength
    # (1.25 tuned as in the session 7 table: their strength margin over fixed was ~0 on s101;
    # 1.5 since session 8, with the aerobic weight 3.0).
    resistance_first_weight: float = 1.5
    # Value of a week that meets the guideline dose itself (at_guideline_target), in reference
    # weeks: progress patients who tolerate well all the way to it, inside the same risk bounds.
    target_bonus: float = 0.5
    # Benefit of a modality saturates at this many reference weeks: 2 aerobic reference weeks
    # ~ 150-180 min moderate (Garber 2011 >= 150 min; PAG 2018 150-300 min); resistance 2 x the
    # reference ~ 3 sessions x 2-3 sets (Garber 2011: 2-3 d/wk, 1-3 sets).
    aerobic_dose_cap: float = 2.0
    resistance_dose_cap: float = 2.25
    # Diminishing returns: benefit = weight x capped dose ** exponent (1: linear). The
    # dose-response of fitness and health to activity is curvilinear, steepest from little to
    # some (PAG Advisory Committee 2018, Part D; Campbell 2019 "some exercise is better than
    # none"), so the first reference week of a frail patient is worth more than a fit patient's
    # third; 0.7 tuned as above (the simulator's own exponent is a separate assumption, also 0.7).
    benefit_exponent: float = 0.7
    # An intolerant session still delivers part of its dose (stopped early: 20-85% done).
    intolerant_completion: float = 0.5
    explain_top: int = 5
    # Search grid.
    minutes_step: float = 5.0
    minutes_span: float = 10.0  # minutes within +/- this of the reference (plus the volume fit)
    aerobic_intensity_step: float = 3.0  # per-week rise of %HRmax after a tolerated week
    aerobic_intensity_grid: tuple[float, ...] = (-6.0, -3.0, 0.0)  # around the reference
    resistance_intensity_grid: tuple[float, ...] = (-5.0, 0.0)  # around the reference
    # At most 4 aerobic sessions a week: under the kernel's 6 a week a 5th took the slot of the
    # 2nd resistance session, and 5 x 30 min + 1 resistance session is not the guideline dose
    # (>= 150 min moderate and >= 2 resistance sessions, Garber 2011, Campbell 2019; 150 min as
    # 4 x 38 min fits beside 2). With 5 (until session 7) 19-22% of patients reached the target
    # on the tuning seeds, with 4 31-33%, strength higher, VO2peak within 0.005.
    max_aerobic_sessions: int = 4
    max_aerobic_minutes: float = 60.0  # per session
    max_resistance_sessions: int = 3
    # ... but a third resistance session only once the aerobic dose meets the guideline target
    # with a slot to spare beside it (3 x 50 min), or when aerobic exercise is not allowed: the
    # 6-a-week cap goes to aerobic frequency first, and resistance volume grows by sets
    # meanwhile (Garber 2011: 2-3 d/wk, 2-4 sets; Campbell 2019: 2 x/wk in the generic dose).
    # A third session took the slot of a 4th aerobic one (at target 22% -> 14% of patients,
    # strength lower), and in the weak-dose-tolerance world every extra session adds adverse
    # events whatever its dose. Not for a recorded sarcopenia: there muscle is the outcome that
    # limits (Couderc 2023: mortality RR 1.97, toxicity RR 1.47) and resistance training the
    # treatment, so resistance comes first (a missing fact never loosens: only `sarcopenia` true).
    resistance_sessions_before_aerobic_target: int = 2
    top_k: int = 5  # options per modality combined into whole weeks
    # A modality progresses (one more session, higher intensity) only after a tolerated spell.
    rise_tolerated_rate: float = 0.8
    # Longer sessions too only after a tolerated spell (ACSM 2009 "2-for-2"): the models never
    # saw how long sessions go in a world where length costs more than in the training data.
    minutes_need_tolerated_week: bool = True
    # ... and one step shorter after a week that was not tolerated (ACSM 2009: reduce the load
    # that was not tolerated; Campbell 2019: progress only as tolerated).
    minutes_step_back: bool = False
    # ... or only when fewer than this share of the modality's attended sessions in 14 days were
    # tolerated (0: off): most recent sessions were too hard, so the next ones are shorter.
    step_back_below_rate: float = 0.5
    # ... and, for aerobic sessions longer than the generic 30 min, already when fewer than this
    # share were tolerated (0: off): a longer session the record does not carry steps back
    # toward the generic length (see `longer_session_tolerance`).
    longer_step_back_below_rate: float = 0.0
    # ... but a step back never takes a session below this length (0: no floor).
    step_back_floor_minutes: float = 0.0
    # ... and not below the kernel's own cap when a rule already shortened the session to the
    # generic length or less (ECOG 2: 30 min): one reduction for one reason.
    step_back_floor_when_capped: bool = True
    # Exposure guard (model-free, from the patient's own record): a modality goes above the
    # generic dose's sessions per week or session length (`start_*`) only on a clean record -
    # at least `clean_min_sessions` attended sessions of it in 14 days, every one tolerated, no
    # moderate or serious adverse event in 7 days - and after any intolerant session it steps
    # back (sessions to the generic count, minutes one step down, not below the generic). A dose
    # the models never saw often is treated as uncertain, not as safe (see the docstring).
    exposure_guard: bool = False
    clean_min_sessions: float = 2.0
    clean_tolerated_rate: float = 0.8  # share of those sessions tolerated
    # Without a clean record: True cuts back to the generic sessions and one minutes step down;
    # False holds (no more sessions or minutes than the reference, or the generic if higher).
    guard_step_back: bool = False
    # Resistance volume rises one step a week (one more session or one more set, not both):
    # ACSM 2009 progression models (gradual volume increases); Schmitz 2009 PAL (add one set
    # at a time, lymphedema); the kernel caps the load step, not the volume step. A clinical
    # choice, not tuned: with it, seed 5 base VO2peak 1.944 (1.873 without), strength 4.22%.
    one_volume_step: bool = True
    # Price of risk in the objective, in reference weeks per expected intolerant attended
    # session (an upper bound on moderate-or-serious adverse events): among weeks inside the
    # bounds, the one with the best benefit minus this x its expected intolerant sessions wins,
    # so risk is spent where it buys the most fitness, not wherever the bound leaves room
    # (0.8 since session 8, with the aerobic weight 3.0; 0.6 until session 7).
    risk_price: float = 0.8
    # Per-patient recalibration of intolerance from the record (see `recalibration`); 0: off.
    recalibration_prior_sessions: float = 0.0
    recalibration_cap: float = 3.0
    recalibration_floor: float = 1.0  # below 1: a better record than predicted loosens, too
    # Reference for a patient without a current prescription: the Campbell 2019 generic dose.
    start_aerobic: tuple[float, float, float] = (3.0, 30.0, 70.0)
    start_resistance: tuple[float, float, float] = (2.0, 2.0, 60.0)
    # Deload (nothing inside the bounds), Cancers 2022 (PMC8946819) deconditioned/symptomatic day:
    # ~20 min at RPE 11-13, resistance 2 x 15-20 reps with reps in reserve; Kirkham (MSSE):
    # lower load in the days after an infusion. Frequency is kept, load lowered.
    deload_aerobic_minutes: float = 20.0
    deload_aerobic_pct_hrmax: float = 64.0
    deload_resistance_sets: float = 2.0
    deload_resistance_reps: float = 15.0
    deload_resistance_pct_1rm: float = 45.0
    # A week the envelope holds below the reference (a symptomatic day, an infusion day, a low
    # count) keeps the reference, as a deload does: the plan resumes afterwards (Kirkham, MSSE:
    # chemotherapy-periodised exercise), up to what the kernel's +10% step from the tolerated
    # record allows (kernel 2026.12.3). False: the light week becomes the reference (before).
    keep_reference_when_capped: bool = True
    # Width of the prescribed intensity bands.
    hrmax_band: float = 4.0
    one_rm_band: float = 4.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        """The configuration REST, batch and evaluation share: the settings' risk bound and
        progression gate, everything else default."""
        return cls(
            tolerance_threshold=settings.tolerance_threshold,
            adherence_threshold=settings.adherence_threshold,
        )
