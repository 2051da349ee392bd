"""Session 5 policy behaviours (issue 10): diminishing returns in the objective, the per-session
bound that never withholds the generic dose's own risk, and the floor of the record's step back.

Scorers are small stand-ins with a known truth (see test_policy_search.py for the others).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest

from features import FEATURE_SET
from serving.guidelines import kernel as gk
from serving.policy import (
    Context,
    PlanScores,
    Points,
    PolicyConfig,
    aerobic_options,
    expected_benefit,
    reference_of,
    resistance_options,
    search,
)
from serving.policy.options import aerobic_at_target
from serving.policy.search import contexts_for, session_thresholds
from tests.safety.conftest import CURRENT_RX, HEALTHY

COLS = list(FEATURE_SET.columns)


@dataclass
class FlatScorer:
    """Every session of every dose tolerated with the same probability."""

    tolerance: float
    attendance: float = 0.9

    def score(
        self, points: Points, point: np.ndarray, plans: np.ndarray, need: np.ndarray | None = None
    ) -> PlanScores:
        n = len(plans)
        tol = np.full((n, 2), self.tolerance)
        att = np.full((n, 2), self.attendance)
        for m, col in ((0, 0), (1, 3)):
            tol[plans[:, col] < 1, m] = att[plans[:, col] < 1, m] = np.nan
        return PlanScores(tol, att)


def _context(rise: tuple[bool, bool], rate: float = math.nan, **facts) -> Context:
    merged = HEALTHY | CURRENT_RX | facts
    res = gk.evaluate(merged)
    assert res.decision == "allowed"
    return Context(
        res.envelope, reference_of(merged, PolicyConfig()), rise, (True, True), (rate, math.nan)
    )


def _points() -> Points:
    return Points(np.zeros((1, len(COLS))), np.array(["p0"]), pd.Timestamp(0))


def _week(minutes: float, sessions: float = 3.0) -> np.ndarray:
    return np.array([[sessions, minutes, 70.0, 0.0, 0.0, 0.0, 0.0]])


# ---- diminishing returns ---------------------------------------------------------------------
@pytest.mark.parametrize("exponent", [0.5, 0.7, 1.0])
def test_the_first_half_of_a_dose_is_worth_at_least_the_second(exponent: float) -> None:
    """benefit(half) >= benefit(full) / 2, with equality only when the objective is linear."""
    cfg = PolicyConfig(benefit_exponent=exponent, target_bonus=0.0)
    scores = PlanScores(np.array([[1.0, np.nan]]), np.array([[1.0, np.nan]]))
    half = float(expected_benefit(_week(15.0), scores, cfg)[0])
    full = float(expected_benefit(_week(30.0), scores, cfg)[0])
    assert full > half > 0
    if exponent < 1:
        assert half > full / 2 + 1e-6
    else:
        assert half == pytest.approx(full / 2)


def test_benefit_still_grows_with_the_dose_under_diminishing_returns() -> None:
    cfg = PolicyConfig(benefit_exponent=0.7, target_bonus=0.0)
    plans = np.vstack([_week(m) for m in (10.0, 20.0, 30.0, 45.0)])
    scores = PlanScores(
        np.column_stack([np.full(4, 0.9), np.full(4, np.nan)]),
        np.column_stack([np.full(4, 0.8), np.full(4, np.nan)]),
    )
    benefit = expected_benefit(plans, scores, cfg)
    assert np.all(np.diff(benefit) > 0)


# ---- the per-session bound and the generic dose ----------------------------------------------
def test_session_threshold_is_the_setting_or_the_generic_doses_prediction_if_lower() -> None:
    on = PolicyConfig(tolerance_threshold=0.65, generic_session_floor=True)
    off = replace(on, generic_session_floor=False)
    np.testing.assert_allclose(session_thresholds(np.array([0.5, 0.9]), on), [0.5, 0.65])
    np.testing.assert_allclose(session_thresholds(np.array([0.5, 0.9]), off), [0.65, 0.65])
    np.testing.assert_allclose(session_thresholds(np.array([np.nan, 0.1]), on), [0.65, 0.1])


def test_a_patient_predicted_to_find_every_dose_hard_keeps_training_at_the_generic_risk() -> None:
    """Every dose predicted at 0.55 (< the 0.65 bound): without the floor the search deloads both
    modalities; with it the patient keeps a dose no riskier per session than the generic one
    (what the clinic would give anyway), not the deload."""
    ctx = _context((False, False))
    flat = FlatScorer(tolerance=0.55)
    strict = search(_points(), [ctx], flat, PolicyConfig(generic_session_floor=False))[0]
    floor = search(_points(), [ctx], flat, PolicyConfig(generic_session_floor=True))[0]
    assert strict.deload
    assert not floor.deload
    assert floor.plan[1] > strict.plan[1]  # longer sessions than the deload's


# ---- the record's step back stops at a floor ---------------------------------------------------
@pytest.mark.parametrize("floor", [0.0, 25.0, 30.0, 40.0])
def test_a_step_back_never_goes_below_the_floor_length(floor: float) -> None:
    """Most recent sessions not tolerated (rate 0.2): the longest option is one step shorter than
    the reference (30 min), unless that would go below the floor (then the reference itself)."""
    ctx = _context((False, False), rate=0.2)
    cfg = PolicyConfig(step_back_below_rate=0.5, step_back_floor_minutes=floor)
    m0 = ctx.ref.aerobic[1]
    assert m0 == 30.0
    longest = aerobic_options(ctx.env, ctx.ref, False, cfg, True, 0.2)[:, 1].max()
    assert longest == max(m0 - cfg.minutes_step, min(m0, floor))


# ---- a longer session the record does not carry steps back ------------------------------------
@pytest.mark.parametrize("rate", [0.3, 0.6, 0.74, 0.75, 0.9, float("nan")])
@pytest.mark.parametrize("minutes", [30.0, 40.0])
def test_a_longer_session_steps_back_below_its_own_rate(rate: float, minutes: float) -> None:
    """Sessions longer than the generic 30 min step back one step when fewer than
    `longer_step_back_below_rate` (0.75 here) of the recent sessions were tolerated, not only
    below `step_back_below_rate` (0.5); a generic-length session keeps the old rule, and no record
    (NaN) forces nothing."""
    cfg = PolicyConfig(step_back_below_rate=0.5, longer_step_back_below_rate=0.75)
    ctx = _context((False, False), rate=rate, rx_aerobic_minutes=minutes)
    longest = aerobic_options(ctx.env, ctx.ref, False, cfg, True, rate)[:, 1].max()
    limit = 0.75 if minutes > cfg.start_aerobic[1] else 0.5
    if math.isfinite(rate) and rate < limit:
        assert longest == minutes - cfg.minutes_step
    else:
        assert longest == minutes
    off = replace(cfg, longer_step_back_below_rate=0.0)  # the rule off: only the old one
    longest_off = aerobic_options(ctx.env, ctx.ref, False, off, True, rate)[:, 1].max()
    assert longest_off == (minutes - cfg.minutes_step if rate < 0.5 else minutes)


# ---- longer sessions than the generic need a higher predicted tolerance ------------------------
def test_sessions_longer_than_the_generic_need_the_higher_tolerance() -> None:
    """After a tolerated week a model that predicts 0.78 for every dose would lengthen sessions;
    with `longer_session_tolerance` 0.8 no chosen session is longer than the generic 30 min, and
    the patient still trains (no deload). The patient is on 4 sessions, the most beside 2
    resistance sessions, so frequency first leaves length as the way to grow."""
    ctx = _context((True, True), rx_aerobic_sessions=4)
    flat = FlatScorer(tolerance=0.78)
    free = search(_points(), [ctx], flat, PolicyConfig(longer_session_tolerance=0.0))[0]
    held = search(_points(), [ctx], flat, PolicyConfig(longer_session_tolerance=0.8))[0]
    generic = PolicyConfig().start_aerobic[1]
    assert free.plan[1] > generic
    assert held.plan[1] <= generic
    assert not held.deload and held.plan[0] >= 1


@pytest.mark.parametrize("flag", [True, False])
def test_no_step_back_below_a_length_the_kernel_already_cut_to(flag: bool) -> None:
    """ECOG 2: the kernel caps aerobic sessions at 30 min (the generic length). With the flag, a
    bad record does not shorten them further (one reduction for one reason); without it, it
    does. A patient whose sessions the kernel leaves uncapped steps back either way."""
    cfg = PolicyConfig(step_back_below_rate=0.5, step_back_floor_when_capped=flag)
    capped = _context((False, False), rate=0.2, ecog=2)
    assert capped.env.aerobic_minutes_max <= cfg.start_aerobic[1]
    longest = aerobic_options(capped.env, capped.ref, False, cfg, True, 0.2)[:, 1].max()
    assert longest == (30.0 if flag else 30.0 - cfg.minutes_step)
    free = _context((False, False), rate=0.2)
    assert free.env.aerobic_minutes_max > cfg.start_aerobic[1]
    longest = aerobic_options(free.env, free.ref, False, cfg, True, 0.2)[:, 1].max()
    assert longest == 30.0 - cfg.minutes_step


def test_a_progression_hold_on_length_is_no_floor_for_the_step_back() -> None:
    """Kernel 2026.12.6 holds a stalled aerobic dose at its session length too (two intolerant
    walks: at most 30 min, the current length). That is the patient's record holding the dose,
    not a clinical cap, so the step back after the bad record still shortens sessions; an ECOG 2
    cap at the same length still floors it (one reduction for one reason)."""
    cfg = PolicyConfig(step_back_below_rate=0.5)
    stalled = HEALTHY | CURRENT_RX | {"aerobic_intolerant_streak": 2, "intolerant_streak": 2}
    for facts, held, longest in (
        (stalled, True, 30.0 - cfg.minutes_step),
        (stalled | {"ecog": 2}, False, 30.0),
    ):
        res = gk.evaluate(facts)
        assert res.envelope.aerobic_minutes_max == 30.0
        (ctx,) = contexts_for(np.zeros((1, len(COLS))), [res], [facts], cfg)
        assert ctx is not None and ctx.minutes_held is held, facts
        ctx = replace(ctx, rate=(0.2, math.nan))
        opts = aerobic_options(ctx.env, ctx.ref, False, cfg, True, 0.2, ctx.minutes_held)
        assert opts[:, 1].max() == longest, facts


# ---- session 6: frequency before length; the third resistance session after the aerobic target -
@pytest.mark.parametrize("flag", [True, False])
def test_aerobic_volume_grows_by_frequency_before_length(flag: bool) -> None:
    """3 x 30 min with 2 resistance sessions (6 a week at most: room for 4 aerobic): after a
    tolerated week the options add a session but, with `frequency_first`, no option below 4
    sessions is longer than 30 min; without it, 3 longer sessions are an option. (The kernel's
    +10% weekly volume makes the fourth session a shorter one.)"""
    cfg = PolicyConfig(frequency_first=flag)
    ctx = _context((True, True))
    assert ctx.env.total_sessions_max - CURRENT_RX["rx_resistance_sessions"] == 4
    a = aerobic_options(ctx.env, ctx.ref, True, cfg)
    below = a[a[:, 0] < 4]
    assert len(below) and (a[:, 0] == 4).any()
    assert bool(below[:, 1].max() <= 30.0) == flag
    four = _context((True, True), rx_aerobic_sessions=4)  # at the cap the sessions may lengthen
    at_cap = aerobic_options(four.env, four.ref, True, cfg)
    assert at_cap[at_cap[:, 0] == 4][:, 1].max() > 30.0


def test_frequency_first_never_shortens_a_current_longer_session() -> None:
    """A patient already on 3 x 45 min keeps 45 min options below the session cap (frequency first
    stops growth, it does not cut what was tolerated)."""
    ctx = _context((True, True), rx_aerobic_minutes=45.0)
    a = aerobic_options(ctx.env, ctx.ref, True, PolicyConfig())
    three = a[a[:, 0] == 3]
    assert three[:, 1].max() == 45.0


def test_a_third_resistance_session_only_once_aerobic_meets_the_target() -> None:
    """2 resistance sessions and 3 x 30 min aerobic (90 min): no third resistance session; with
    3 x 50 min at 64-68% (150 min at moderate, a slot to spare in the 6 a week) it is an option,
    with 4 x 40 min (160 min, but no slot beside the 4 sessions) it is not; a patient already on
    3 keeps 3 within reach."""
    cfg = PolicyConfig()
    below = _context((True, True))
    assert resistance_options(below.env, below.ref, True, cfg)[:, 0].max() == 2
    met = _context((True, True), rx_aerobic_minutes=50.0)
    assert aerobic_at_target(met.ref)
    assert resistance_options(met.env, met.ref, True, cfg)[:, 0].max() == 3
    crowded = _context((True, True), rx_aerobic_sessions=4, rx_aerobic_minutes=40.0)
    assert aerobic_at_target(crowded.ref)
    assert resistance_options(crowded.env, crowded.ref, True, cfg)[:, 0].max() == 2
    kept = _context((True, True), rx_resistance_sessions=3)
    assert resistance_options(kept.env, kept.ref, True, cfg)[:, 0].max() == 3
    loose = PolicyConfig(resistance_sessions_before_aerobic_target=3)
    assert resistance_options(below.env, below.ref, True, loose)[:, 0].max() == 3


def test_a_recorded_sarcopenia_puts_resistance_first() -> None:
    """Sarcopenia recorded: a third resistance session is an option at 3 x 30 min aerobic; the
    fact read as the kernel reads it ("yes", 1), and a missing fact does not loosen."""
    cfg = PolicyConfig()
    ctx = _context((True, True))
    assert resistance_options(ctx.env, ctx.ref, True, cfg, True, True)[:, 0].max() == 3
    assert resistance_options(ctx.env, ctx.ref, True, cfg, True, False)[:, 0].max() == 2
    for value, first in ((True, True), ("yes", True), (1, True), (None, False), (False, False)):
        facts = HEALTHY | CURRENT_RX | {"sarcopenia": value}
        (c,) = contexts_for(np.zeros((1, len(COLS))), [gk.evaluate(facts)], [facts], cfg)
        assert c is not None and c.resistance_first is first, value


def test_a_recorded_sarcopenia_weighs_resistance_more() -> None:
    """`resistance_first_weight` scales the resistance term of the objective for a recorded
    sarcopenia only; when risk is priced (every session tolerated at 0.6), the sarcopenic patient
    keeps a second resistance session that the same patient unweighted trades for aerobic."""
    cfg = PolicyConfig(aerobic_weight=3.0, resistance_first_weight=2.0, target_bonus=0.0)
    plan = np.array([[0.0, 0.0, 0.0, 2.0, 2.0, 12.0, 60.0]])
    scores = PlanScores(np.array([[np.nan, 0.9]]), np.array([[np.nan, 0.8]]))
    plain = float(expected_benefit(plan, scores, cfg)[0])
    first = float(expected_benefit(plan, scores, cfg, True)[0])
    assert first == pytest.approx(2.0 * plain)
    np.testing.assert_allclose(
        expected_benefit(np.vstack([plan, plan]), scores, cfg, np.array([False, True])),
        [plain, first],
    )
    sarcopenic = replace(_context((True, True)), resistance_first=True)
    flat = FlatScorer(tolerance=0.6)
    priced = replace(cfg, risk_price=1.0)
    weighed = search(_points(), [sarcopenic], flat, priced)[0].plan
    plain_week = search(_points(), [sarcopenic], flat, replace(priced, resistance_first_weight=1.0))
    assert weighed[3] == 2 and plain_week[0].plan[3] == 1
    assert weighed[0] < plain_week[0].plan[0]  # the aerobic session it costs
