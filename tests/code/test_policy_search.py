"""The policy's search (serving.policy): options per modality, the benefit objective, the risk
bounds, frequency progression, per-modality blocking, the deload and pluggable scoring.

Scorers here are small stand-ins with a known truth, so each behaviour is checked against what it
must be; the safety of every emitted prescription is tests/safety/test_policy_properties.py.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.arms import OracleScorer
from features import FEATURE_SET
from features.contract.convert import requests_to_columns
from features.contract.rest import RecommendRequest
from serving.guidelines import kernel as gk
from serving.policy import (
    PLAN_COLUMNS,
    A,
    Context,
    PlanScores,
    Points,
    PolicyConfig,
    R,
    aerobic_options,
    aerobic_session_dose,
    clean_record,
    expected_benefit,
    recommend,
    reference_of,
    resistance_options,
    response_json,
    search,
    tolerated_week,
)
from tests.fakes import fake_models
from tests.safety.conftest import CURRENT_RX, HEALTHY

COLS = list(FEATURE_SET.columns)
FIXTURE = Path(__file__).parents[1] / "fixtures" / "recommend-request.json"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class ToyScorer:
    """Aerobic sessions get harder with minutes (longer is worse); resistance is easy."""

    per_minute: float = 0.3
    resistance_tolerance: float = 0.95
    attendance: float = 0.9
    calls: int = 0

    def score(
        self, points: Points, point: np.ndarray, plans: np.ndarray, need: np.ndarray | None = None
    ) -> PlanScores:
        self.calls += 1
        tol_a = _sigmoid(3.0 - self.per_minute * (plans[:, 1] - 25.0))
        tol = np.column_stack([tol_a, np.full(len(plans), self.resistance_tolerance)])
        att = np.full((len(plans), 2), self.attendance)
        tol[plans[:, 0] < 1, A] = att[plans[:, 0] < 1, A] = np.nan
        tol[plans[:, 3] < 1, R] = att[plans[:, 3] < 1, R] = np.nan
        return PlanScores(tol, att)


def _context(rise: tuple[bool, bool], **facts) -> Context:
    merged = HEALTHY | CURRENT_RX | facts
    res = gk.evaluate(merged)
    assert res.decision == "allowed"
    return Context(res.envelope, reference_of(merged, PolicyConfig()), rise)


def _points(n: int = 1) -> Points:
    return Points(np.zeros((n, len(COLS))), np.array([f"p{i}" for i in range(n)]), pd.Timestamp(0))


def _row(**values: float) -> np.ndarray:
    row = np.full(len(COLS), np.nan)
    for k, v in values.items():
        row[COLS.index(k)] = v
    return row


# ---- options -------------------------------------------------------------------------------
@pytest.mark.parametrize("rise", [True, False])
def test_sessions_rise_by_at_most_one_and_only_after_a_tolerated_week(rise: bool) -> None:
    ctx = _context((rise, rise))
    cfg = PolicyConfig(resistance_sessions_before_aerobic_target=3)  # a third one allowed here
    a = aerobic_options(ctx.env, ctx.ref, rise, cfg)
    r = resistance_options(ctx.env, ctx.ref, rise, cfg)
    assert a[:, 0].max() == CURRENT_RX["rx_aerobic_sessions"] + int(rise)
    assert r[:, 0].max() == CURRENT_RX["rx_resistance_sessions"] + int(rise)
    if not rise:  # no intensity rise either
        assert a[:, 2].max() <= 66.0  # the middle of the current 64-68% HRmax band
        assert r[:, 2].max() <= 47.0  # the middle of the current 45-50% 1RM band (floored)


def test_options_respect_the_weekly_volume_cap_so_a_session_is_added_by_shortening_them() -> None:
    ctx = _context((True, True))
    a = aerobic_options(ctx.env, ctx.ref, True, PolicyConfig())
    assert (a[:, 0] * a[:, 1] <= ctx.env.aerobic_weekly_volume_max + 1e-9).all()
    four = a[a[:, 0] == 4]
    assert len(four) and four[:, 1].max() == np.floor(ctx.env.aerobic_weekly_volume_max / 4)


def test_three_resistance_sessions_are_reachable() -> None:
    """Once the aerobic dose meets the guideline target (3 x 50 min at 64-68% HRmax)."""
    ctx = _context((True, True), rx_resistance_sessions=2, rx_aerobic_minutes=50.0)
    r = resistance_options(ctx.env, ctx.ref, True, PolicyConfig())
    assert 3 in r[:, 0]


def test_resistance_volume_rises_one_step_a_week() -> None:
    """One more session or one more set after a tolerated week, never both at once."""
    ctx = _context((True, True), rx_resistance_sessions=2, rx_resistance_sets=2)
    s0, k0 = 2, 2
    r = resistance_options(
        ctx.env, ctx.ref, True, PolicyConfig(resistance_sessions_before_aerobic_target=3)
    )
    assert (r[:, 0] > s0).any() and (r[:, 1] > k0).any()  # each step is reachable
    assert not ((r[:, 0] > s0) & (r[:, 1] > k0)).any()
    both = resistance_options(
        ctx.env,
        ctx.ref,
        True,
        PolicyConfig(one_volume_step=False, resistance_sessions_before_aerobic_target=3),
    )
    assert ((both[:, 0] > s0) & (both[:, 1] > k0)).any()  # the switch is what prevents it


# ---- objective -----------------------------------------------------------------------------
def test_benefit_grows_with_expected_attended_sessions_and_ignores_light_minutes() -> None:
    cfg = PolicyConfig(light_credit=0.0)
    plans = np.array(
        [
            [3, 30, 70, 0, 0, 0, 0],
            [4, 30, 70, 0, 0, 0, 0],
            [4, 30, 60, 0, 0, 0, 0],  # light: no benefit
        ],
        dtype=float,
    )
    scores = PlanScores(np.array([[0.9, np.nan]] * 3), np.array([[0.8, np.nan]] * 3))
    b = expected_benefit(plans, scores, cfg)
    assert b[1] > b[0] > 0 and b[2] == 0
    light = expected_benefit(plans, scores, PolicyConfig(light_credit=0.5))
    assert 0 < light[2] < light[1]  # light counts, at a discount
    fewer = PlanScores(scores.tolerance, np.array([[0.5, np.nan]] * 3))
    assert expected_benefit(plans, fewer, cfg)[1] < b[1]  # fewer attended, less benefit
    assert aerobic_session_dose(np.array(30.0), np.array(76.0)) > aerobic_session_dose(
        np.array(30.0), np.array(64.0)
    )


# ---- behaviour of the search ---------------------------------------------------------------
def test_frequency_rises_after_a_tolerated_week() -> None:
    """Longer sessions are poorly tolerated: after a tolerated aerobic week the search adds a
    (shorter) aerobic session; without one it may not. Both tolerated: the week gains sessions,
    at most one per modality, within the 6-session cap."""
    cur_a, cur_r = CURRENT_RX["rx_aerobic_sessions"], CURRENT_RX["rx_resistance_sessions"]
    up = search(_points(), [_context((True, False))], ToyScorer(), PolicyConfig())[0]
    same = search(_points(), [_context((False, False))], ToyScorer(), PolicyConfig())[0]
    both = search(_points(), [_context((True, True))], ToyScorer(), PolicyConfig())[0]
    assert up.plan[0] == cur_a + 1 and up.plan[3] <= cur_r
    assert same.plan[0] <= cur_a and same.plan[3] <= cur_r
    assert both.plan[0] + both.plan[3] > cur_a + cur_r
    assert both.plan[0] <= cur_a + 1 and both.plan[3] <= cur_r + 1
    assert both.plan[0] + both.plan[3] <= 6
    assert not (up.deload or same.deload or both.deload)


def test_intolerance_in_one_modality_blocks_only_that_modalitys_progression() -> None:
    ok = dict(
        resistance_intolerant_streak=0.0,
        resistance_moderate_ae_7d=0.0,
        resistance_tolerated_rate_14d=1.0,
        aerobic_moderate_ae_7d=0.0,
        aerobic_tolerated_rate_14d=1.0,
        tolerated_rate_14d=1.0,
        intolerant_streak=0.0,  # the last session (resistance) was tolerated
        moderate_ae_7d=0.0,
    )
    cfg = PolicyConfig(generic_risk_ratio=3.0)  # risk is not what this test is about
    bad_aerobic = _row(**ok, aerobic_intolerant_streak=2.0)
    assert not tolerated_week(bad_aerobic, "aerobic", cfg)
    assert tolerated_week(bad_aerobic, "resistance", cfg)
    good = _row(**ok, aerobic_intolerant_streak=0.0)
    assert tolerated_week(good, "aerobic", cfg)
    ctx = _context((tolerated_week(bad_aerobic, "aerobic", cfg), True))
    easy = ToyScorer(per_minute=0.0)
    choice = search(_points(), [ctx], easy, cfg)[0]
    assert choice.plan[0] <= CURRENT_RX["rx_aerobic_sessions"]
    assert choice.plan[2] <= 66.0
    # resistance still progresses: one volume step (a session or a set) or a heavier load
    s_up = choice.plan[3] - CURRENT_RX["rx_resistance_sessions"]
    k_up = choice.plan[4] - CURRENT_RX["rx_resistance_sets"]
    assert s_up + k_up == 1 or (s_up + k_up == 0 and choice.plan[6] > 47.0)


def test_deload_keeps_frequency_and_the_progression_reference() -> None:
    ctx = _context((True, True))
    hard = ToyScorer(per_minute=0.0, resistance_tolerance=0.1)
    hard_aerobic = ToyScorer(per_minute=2.0, resistance_tolerance=0.1)
    for scorer in (hard, hard_aerobic):
        choice = search(_points(), [ctx], scorer, PolicyConfig(tolerance_threshold=0.99))[0]
        assert choice.deload
        assert choice.plan[3] == CURRENT_RX["rx_resistance_sessions"]  # frequency kept
        assert choice.plan[6] < 47.0  # a lighter load
        ref = ctx.ref.resistance
        assert tuple(choice.reference[[3, 4, 6]]) == ref  # climbs back to the pre-deload dose


def test_a_week_the_envelope_holds_below_the_reference_keeps_the_reference() -> None:
    """Fatigue 9/10 today: 10-minute light sessions, but the reference stays the current dose,
    so next week resumes it (kernel 2026.12.3); off, the light week becomes the reference."""
    ctx = _context((True, True), fatigue=9)
    assert ctx.env.aerobic_minutes_max == 10 and ctx.env.resistance_pct_1rm_max == 50
    easy = ToyScorer(per_minute=0.0)
    choice = search(_points(), [ctx], easy, PolicyConfig())[0]
    assert choice.plan[1] <= 10 and not choice.deload
    assert tuple(choice.reference[0:3]) == ctx.ref.aerobic  # 3 x 30 min at 66%, kept
    off = search(_points(), [ctx], easy, PolicyConfig(keep_reference_when_capped=False))[0]
    assert np.array_equal(off.plan, choice.plan)
    assert np.array_equal(off.reference, off.plan)
    # an envelope that holds the reference: the plan is the reference, as before
    free = search(_points(), [_context((True, True))], easy, PolicyConfig())[0]
    assert np.array_equal(free.reference, free.plan)


def test_after_a_light_week_the_next_week_resumes_from_the_kept_reference() -> None:
    """The week after the symptomatic day (fatigue back to 3): the current prescription is the
    light week, the reference and the tolerated record are the usual 3 x 30 min -> the kernel
    allows the usual volume again and the search offers it; without the record, +10% of the
    light week."""
    light = CURRENT_RX | dict(rx_aerobic_minutes=10.0, rx_resistance_pct_1rm_low=45.0)
    kept = {
        f"ref_{c}": v
        for c, v in zip(PLAN_COLUMNS, (3.0, 30.0, 66.0, 2.0, 2.0, 12.0, 47.0), strict=True)
    }
    record = dict(aerobic_tolerated_weekly_minutes_28d=90.0, resistance_tolerated_pct_1rm_28d=47.0)
    facts = HEALTHY | light | kept | record
    res = gk.evaluate(facts)
    assert res.envelope.aerobic_weekly_volume_max == pytest.approx(99)
    ctx = Context(res.envelope, reference_of(facts, PolicyConfig()), (True, True))
    assert ctx.ref.aerobic == (3.0, 30.0, 66.0)
    choice = search(_points(), [ctx], ToyScorer(per_minute=0.0), PolicyConfig())[0]
    assert choice.plan[0] * choice.plan[1] >= 90 - 1e-9  # back to the usual week (or more)
    assert choice.plan[0] * choice.plan[1] <= 99 + 1e-9
    no_record = gk.evaluate(HEALTHY | light | kept)
    assert no_record.envelope.aerobic_weekly_volume_max == pytest.approx(33)


def test_recommend_with_a_deload_regresses_inside_the_envelope_and_returns_the_reference() -> None:
    req = RecommendRequest.model_validate(json.loads(FIXTURE.read_text()))
    patients, sessions = requests_to_columns([req])
    models = fake_models(constant=0.05)
    # without the generic session floor: every dose, the generic one included, is out of bounds
    cfg = PolicyConfig(generic_session_floor=False)
    [resp] = recommend(patients, sessions, req.as_of, models, cfg)
    assert resp.decision == "regress"
    cur = req.current_prescription
    assert cur is not None and cur.aerobic is not None and cur.resistance is not None
    ref = resp.reference_plan
    assert ref is not None
    assert ref.aerobic_sessions == cur.aerobic.sessions_per_week
    assert ref.aerobic_minutes == cur.aerobic.minutes_per_session
    assert ref.resistance_sessions == cur.resistance.sessions_per_week
    rx = resp.prescription
    assert rx.aerobic.minutes_per_session < cur.aerobic.minutes_per_session
    assert rx.aerobic.sessions_per_week == cur.aerobic.sessions_per_week


def test_search_scores_all_patients_in_two_calls() -> None:
    scorer = ToyScorer()
    ctxs = [_context((True, True)), None, _context((False, True))]
    out = search(_points(3), ctxs, scorer, PolicyConfig())
    assert sorted(out) == [0, 2] and scorer.calls == 2


# ---- pluggable scoring: the oracle ---------------------------------------------------------
def test_oracle_scorer_reads_the_truth_for_each_patient_and_plan() -> None:
    seen: list[pd.DataFrame] = []

    def truth(plans: pd.DataFrame) -> pd.DataFrame:
        seen.append(plans)
        m = plans["aerobic_minutes"].to_numpy(float)
        return pd.DataFrame(
            {
                "p_tolerate_aerobic": 1 - m / 100,
                "p_tolerate_resistance": np.full(len(m), 0.9),
                "p_attend_aerobic": np.full(len(m), 0.8),
                "p_attend_resistance": np.full(len(m), 0.7),
            }
        )

    plans = np.array([[3, 30, 70, 2, 2, 12, 60], [2, 20, 66, 0, 0, 0, 0]], dtype=float)
    s = OracleScorer(truth).score(_points(2), np.array([1, 0]), plans)
    assert list(seen[0]["patient_id"]) == ["p1", "p0"]
    np.testing.assert_allclose(s.tolerance[:, A], [0.7, 0.8])
    np.testing.assert_allclose(s.attendance[:, R], [0.7, 0.7])


def test_recommend_uses_the_scorer_it_is_given() -> None:
    req = RecommendRequest.model_validate(json.loads(FIXTURE.read_text()))
    patients, sessions = requests_to_columns([req])
    models = fake_models()
    scorer = ToyScorer(per_minute=0.0, resistance_tolerance=0.01)
    [resp] = recommend(patients, sessions, req.as_of, models, PolicyConfig(), scorer=scorer)
    assert scorer.calls == 2
    assert resp.predictions is not None
    assert resp.predictions.tolerance == pytest.approx(0.01, abs=1e-4)


def test_weekly_risk_never_exceeds_the_bound_relative_to_the_generic_dose() -> None:
    """Expected intolerant sessions of the chosen week <= ratio x those of the generic dose."""
    from serving.policy import generic_week, weekly_intolerant

    scorer = ToyScorer(per_minute=0.1, resistance_tolerance=0.7)
    for ratio in (1.0, 1.5, 3.0):
        cfg = PolicyConfig(generic_risk_ratio=ratio, tolerance_threshold=0.5)
        ctx = _context((True, True))
        choice = search(_points(), [ctx], scorer, cfg)[0]
        both = np.vstack([choice.plan, generic_week(ctx.env, cfg)])
        risk = weekly_intolerant(both, scorer.score(_points(), np.zeros(2, int), both))
        assert not choice.deload
        assert risk[0] <= ratio * risk[1] + 1e-9
    # the bound alone (and length a way to grow, as well as frequency)
    lenient = dict(tolerance_threshold=0.5, risk_price=0.0, frequency_first=False)
    tight = search(_points(), [ctx], scorer, PolicyConfig(generic_risk_ratio=1.0, **lenient))[0]
    loose = search(_points(), [ctx], scorer, PolicyConfig(generic_risk_ratio=3.0, **lenient))[0]
    assert loose.benefit > tight.benefit  # the bound binds: more risk allowed, more dose


def test_after_a_deload_the_kept_reference_leads_the_climb_back() -> None:
    """rx_* is the deload (what was prescribed); ref_* the dose deloaded from: the search works
    around the reference, the kernel still bounds the climb by the deload (+10% volume)."""
    deload = CURRENT_RX | {
        "rx_aerobic_minutes": 20.0,
        "rx_aerobic_pct_hrmax_low": 62.0,
        "rx_aerobic_pct_hrmax_high": 66.0,
    }
    kept = {"ref_" + k: v for k, v in zip(PLAN_COLUMNS, (3, 30, 70, 2, 2, 12, 47.5), strict=True)}
    facts = HEALTHY | deload | kept
    ref = reference_of(facts, PolicyConfig())
    assert ref.aerobic == (3, 30, 70) and ref.aerobic_current
    res = gk.evaluate(facts)
    choice = search(
        _points(), [Context(res.envelope, ref, (False, False))], ToyScorer(), PolicyConfig()
    )[0]
    assert choice.plan[0] * choice.plan[1] <= res.envelope.aerobic_weekly_volume_max
    assert choice.plan[1] > 20.0 and choice.plan[2] > 64.0  # climbing back, within the kernel
    no_ref = reference_of(HEALTHY | deload, PolicyConfig())
    assert no_ref.aerobic == (3, 20, 64)


def _one_week(a: np.ndarray, r: np.ndarray, reps: float) -> np.ndarray:
    """One 7-column week from an aerobic (s, m, p) and a resistance (s, sets, %1RM) part."""
    if r[0] < 1:
        return np.array([*a, 0.0, 0.0, 0.0, 0.0])
    return np.array([*a, r[0], r[1], reps, r[2]])


def test_vectorised_week_rows_equal_the_one_at_a_time_rows() -> None:
    from serving.policy.search import _weeks

    rng = np.random.default_rng(0)
    a = np.column_stack(
        [rng.integers(0, 5, 20), rng.integers(10, 60, 20), rng.integers(40, 85, 20)]
    )
    r = np.column_stack([rng.integers(0, 4, 20), rng.integers(1, 4, 20), rng.integers(30, 80, 20)])
    a, r = a.astype(float), r.astype(float)
    np.testing.assert_array_equal(_weeks(a, r[:1], 12.0), [_one_week(x, r[0], 12.0) for x in a])
    np.testing.assert_array_equal(_weeks(a[:1], r, 12.0), [_one_week(a[0], y, 12.0) for y in r])
    assert _weeks(a[:0], r[:1], 12.0).shape == (0, 7)


def test_recalibration_tightens_only_on_a_worse_record_than_predicted() -> None:
    from serving.policy.search import _recalibrated, recalibration

    cfg = PolicyConfig(recalibration_prior_sessions=5.0)
    ref_tol = np.array([0.9, 0.9])  # predicted intolerance 0.1 for both modalities
    worse = _row(
        aerobic_tolerated_rate_14d=0.5,
        aerobic_n_planned_14d=10.0,
        aerobic_attendance_rate_14d=1.0,
        resistance_tolerated_rate_14d=1.0,
        resistance_n_planned_14d=4.0,
        resistance_attendance_rate_14d=1.0,
    )
    f = recalibration(worse, ref_tol, cfg)
    assert f[A] > 2.0 and f[R] == 1.0  # per modality; a good record never loosens by default
    assert recalibration(worse, ref_tol, PolicyConfig())[A] == 1.0  # off by default
    assert (recalibration(_row(), ref_tol, cfg) == 1.0).all()  # no record, no change
    tol = _recalibrated(np.array([[0.9, 0.95]]), f)
    assert tol[0, A] < 0.9 and tol[0, R] == pytest.approx(0.95)


# ---- exposure guard (model-free, from the patient's own record) -------------------------------
CLEAN = dict(
    aerobic_intolerant_streak=0.0,
    aerobic_moderate_ae_7d=0.0,
    aerobic_tolerated_rate_14d=1.0,
    aerobic_n_planned_14d=6.0,
    aerobic_attendance_rate_14d=1.0,
)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"aerobic_intolerant_streak": 1.0},
        {"aerobic_moderate_ae_7d": 1.0},
        {"aerobic_tolerated_rate_14d": 0.75},
        {"aerobic_n_planned_14d": 1.0},
        {"aerobic_attendance_rate_14d": np.nan},
    ],
)
def test_clean_record_needs_enough_sessions_all_tolerated_and_no_adverse_event(change) -> None:
    row = _row(**(CLEAN | change))
    assert clean_record(row, "aerobic", PolicyConfig(exposure_guard=True)) is (not change)
    assert clean_record(row, "aerobic", PolicyConfig(exposure_guard=False))


@pytest.mark.parametrize("step_back", [True, False])
def test_without_a_clean_record_no_more_or_longer_sessions(step_back: bool) -> None:
    """A patient on 4 x 40 min who had an intolerant aerobic session: with `guard_step_back` at
    most the generic 3 sessions and minutes one step down; without it no more sessions or
    minutes than the reference (a hold); never below the generic dose's. With a clean record the
    same reference may rise (to a 5th session where the policy allows 5)."""
    cfg = PolicyConfig(guard_step_back=step_back, max_aerobic_sessions=5)
    ctx = _context((True, True), rx_aerobic_sessions=4, rx_aerobic_minutes=40.0)
    clean = aerobic_options(ctx.env, ctx.ref, True, cfg, True)
    unclean = aerobic_options(ctx.env, ctx.ref, True, cfg, False)
    assert clean[:, 0].max() == 5 and clean[:, 1].max() > 40.0
    assert unclean[:, 0].max() == (cfg.start_aerobic[0] if step_back else 4)
    assert unclean[:, 1].max() == (40.0 - cfg.minutes_step if step_back else 40.0)
    short = _context((True, True), rx_aerobic_minutes=20.0)
    grown = aerobic_options(short.env, short.ref, True, cfg, False)
    assert grown[:, 1].max() == cfg.start_aerobic[1]  # up to the generic length, not beyond
    r_ctx = _context((True, True), rx_resistance_sessions=3)
    r = resistance_options(r_ctx.env, r_ctx.ref, True, cfg, False)
    assert r[:, 0].max() == (cfg.start_resistance[0] if step_back else 3)
    r_ctx2 = _context((True, True), rx_resistance_sessions=2)
    r2 = resistance_options(r_ctx2.env, r_ctx2.ref, True, cfg, False)
    assert r2[:, 0].max() == cfg.start_resistance[0]  # no third session without a clean record


def test_search_holds_after_an_intolerant_session_whatever_the_model_predicts() -> None:
    """The models say longer and more sessions are safe (per_minute 0): a patient without a
    clean aerobic record gets no more weekly aerobic exposure than the reference."""
    cfg = PolicyConfig(generic_risk_ratio=3.0)
    easy = ToyScorer(per_minute=0.0)
    base = _context((True, True), rx_aerobic_sessions=4, rx_aerobic_minutes=40.0)
    unclean = Context(base.env, base.ref, base.rise, (False, True))
    trusted = search(_points(), [base], easy, cfg)[0]
    guarded = search(_points(), [unclean], easy, cfg)[0]
    assert trusted.plan[0] * trusted.plan[1] > 4 * 40.0
    assert guarded.plan[0] <= 4 and guarded.plan[1] <= 40.0


# ---- the progression reference in the contract ---------------------------------------------
def test_the_deload_reference_travels_through_the_contract() -> None:
    """A deload's response carries `progression_reference` (the dose deloaded from); handed back
    with the deload as the current prescription, the policy progresses from it again."""
    from features.contract.dose import REFERENCE_COLUMNS as SCHEMA_REFERENCE_COLUMNS
    from features.contract.rest import RecommendResponse
    from serving.policy import REFERENCE_COLUMNS, records

    assert SCHEMA_REFERENCE_COLUMNS == REFERENCE_COLUMNS
    body = json.loads(FIXTURE.read_text())
    req = RecommendRequest.model_validate(body)
    patients, sessions = requests_to_columns([req])
    [resp] = recommend(patients, sessions, req.as_of, fake_models(constant=0.05), PolicyConfig())
    assert resp.decision == "regress"
    wire = response_json(resp)
    assert RecommendResponse.model_validate(wire).model_dump(mode="json") == wire
    ref = wire["progression_reference"]
    cur = req.current_prescription
    assert cur is not None and cur.aerobic is not None
    assert ref["aerobic_sessions"] == cur.aerobic.sessions_per_week
    assert ref["aerobic_minutes"] == cur.aerobic.minutes_per_session
    rx = wire["prescription"]
    assert rx["aerobic"]["minutes_per_session"] < ref["aerobic_minutes"]
    # next week: the deload is the current prescription, the reference is handed back
    nxt = RecommendRequest.model_validate(
        body | {"current_prescription": rx, "progression_reference": ref}
    )
    cols, _ = requests_to_columns([nxt])
    facts = records(cols)[0]
    kept = reference_of(facts, PolicyConfig())
    assert kept.aerobic == (
        ref["aerobic_sessions"],
        ref["aerobic_minutes"],
        ref["aerobic_pct_hrmax"],
    )
    lost = reference_of(records(requests_to_columns([nxt.model_copy(
        update={"progression_reference": None})])[0])[0], PolicyConfig())  # fmt: skip
    assert lost.aerobic[1] == rx["aerobic"]["minutes_per_session"]


# ---- risk price, minutes progression and step back (issue 10, session 4) -------------------------
def test_a_higher_price_of_risk_never_chooses_a_riskier_week() -> None:
    """Benefit minus price x expected intolerant sessions: raising the price never raises the
    chosen week's expected intolerant sessions, and a high price gives a lighter week."""
    from serving.policy import weekly_intolerant

    scorer = ToyScorer(per_minute=0.1, resistance_tolerance=0.7)
    ctx = _context((True, True))
    risks = []
    for price in (0.0, 0.5, 2.0, 8.0):
        cfg = PolicyConfig(risk_price=price, tolerance_threshold=0.5, generic_risk_ratio=3.0)
        plan = search(_points(), [ctx], scorer, cfg)[0].plan[None, :]
        risks.append(
            float(weekly_intolerant(plan, scorer.score(_points(), np.zeros(1, int), plan))[0])
        )
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(risks)), risks
    assert risks[-1] < risks[0], risks


def test_minutes_grow_only_after_a_tolerated_week() -> None:
    ctx = _context((False, False))
    cfg = PolicyConfig(minutes_need_tolerated_week=True, frequency_first=False)
    m0 = ctx.ref.aerobic[1]
    assert aerobic_options(ctx.env, ctx.ref, False, cfg)[:, 1].max() <= m0
    assert aerobic_options(ctx.env, ctx.ref, True, cfg)[:, 1].max() > m0


@pytest.mark.parametrize("rate", [0.2, 0.49, 0.5, 0.9, float("nan")])
def test_minutes_step_back_when_most_recent_sessions_were_not_tolerated(rate: float) -> None:
    """Below `step_back_below_rate` tolerated in 14 days: every option is at least one minutes
    step shorter than the reference; at or above it (or without a record): no shortening forced."""
    ctx = _context((False, False))
    cfg = PolicyConfig(step_back_below_rate=0.5)
    m0 = ctx.ref.aerobic[1]
    longest = aerobic_options(ctx.env, ctx.ref, False, cfg, True, rate)[:, 1].max()
    if rate < 0.5:
        assert longest <= m0 - cfg.minutes_step
    else:
        assert longest == m0


def test_search_steps_minutes_back_on_a_bad_record_whatever_the_model_predicts() -> None:
    """A scorer that finds every dose easy cannot keep the minutes of a patient whose recent
    aerobic sessions were mostly not tolerated."""
    base = _context((False, True))
    easy = ToyScorer(per_minute=0.0, resistance_tolerance=0.99)
    bad = Context(base.env, base.ref, base.rise, base.clean, (0.3, 1.0))
    plan = search(_points(), [bad], easy, PolicyConfig())[0].plan
    assert plan[1] <= base.ref.aerobic[1] - PolicyConfig().minutes_step
