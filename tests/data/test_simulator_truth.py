"""The simulator's truth query (`true_probabilities`) and the stress scenarios.

Tiny cohorts (a hundred patients, a few weeks): each test runs in about a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.simulator import PLAN_COLUMNS, Simulator
from training.simulator.scenarios import SCENARIOS, scenario_params

N, SEED = 120, 4
PLAN = {
    "aerobic_sessions": 3,
    "aerobic_minutes": 30.0,
    "aerobic_pct_hrmax": 65.0,
    "resistance_sessions": 2,
    "resistance_sets": 2,
    "resistance_reps": 12,
    "resistance_pct_1rm": 50.0,
}


def plans_for(ids, **dose: float) -> pd.DataFrame:
    return pd.DataFrame([{"patient_id": p} | PLAN | dose for p in ids])


def test_truth_is_the_probability_the_visit_day_sessions_were_drawn_with() -> None:
    """Asked on the policy's snapshot, p_tolerate equals the p_tolerate recorded for sessions of
    the visit day (same state, no daily noise in the base parameters)."""
    sim = Simulator(N, seed=SEED)
    asked: list[pd.DataFrame] = []

    def policy(snapshot, history, week):
        plans = plans_for(snapshot["patient_id"], aerobic_sessions=7, resistance_sessions=0)
        asked.append(sim.true_probabilities(plans).assign(week=week))
        return plans

    _, sessions = sim.run(3, policy=policy)
    truth = pd.concat(asked, ignore_index=True)
    visit = sessions[sessions["date"].isin(truth["week"].unique())]
    merged = visit.merge(
        truth, left_on=["patient_id", "date"], right_on=["patient_id", "week"], validate="1:1"
    )
    assert len(merged) > 100
    np.testing.assert_allclose(merged["p_tolerate"], merged["p_tolerate_aerobic"], rtol=1e-12)
    assert truth["p_tolerate_resistance"].isna().all()  # no resistance in these plans


def test_asking_changes_nothing_in_the_simulation() -> None:
    def run(ask: bool) -> pd.DataFrame:
        sim = Simulator(N, seed=SEED)

        def policy(snapshot, history, week):
            plans = plans_for(snapshot["patient_id"])
            if ask:
                many = pd.concat([plans, plans_for(snapshot["patient_id"], aerobic_minutes=60)])
                sim.true_probabilities(many)
            return plans

        return sim.run(3, policy=policy)[1]

    pd.testing.assert_frame_equal(run(False), run(True))


def test_truth_falls_with_dose_and_burden() -> None:
    sim = Simulator(N, seed=SEED)
    ids = sim.snapshot()["patient_id"]
    light = sim.true_probabilities(plans_for(ids, aerobic_minutes=20, aerobic_pct_hrmax=55))
    hard = sim.true_probabilities(plans_for(ids, aerobic_minutes=60, aerobic_pct_hrmax=80))
    assert (hard["p_tolerate_aerobic"] < light["p_tolerate_aerobic"]).all()
    assert (hard["p_attend_aerobic"] < light["p_attend_aerobic"]).all()  # heavier week
    assert (
        hard["p_ae_moderate_or_serious_aerobic"] >= light["p_ae_moderate_or_serious_aerobic"]
    ).all()
    assert list(hard["patient_id"]) == list(ids)


def test_truth_rejects_unknown_patients_and_missing_columns() -> None:
    sim = Simulator(20, seed=SEED)
    with pytest.raises(ValueError, match="not in the simulation"):
        sim.true_probabilities(plans_for(["nobody"]))
    with pytest.raises(ValueError, match="lack columns"):
        sim.true_probabilities(pd.DataFrame({"patient_id": ["x"]}))
    assert set(PLAN_COLUMNS) <= set(plans_for(["x"]).columns)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_is_deterministic_per_seed(name: str) -> None:
    params = scenario_params(name)
    a = Simulator(60, seed=SEED, params=params).run(2)
    b = Simulator(60, seed=SEED, params=params).run(2)
    pd.testing.assert_frame_equal(a[1], b[1])
    pd.testing.assert_frame_equal(a[0], b[0])


def test_unknown_scenario_is_named() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        scenario_params("nope")


def _truth(name: str, **dose: float) -> pd.DataFrame:
    sim = Simulator(N, seed=SEED, params=scenario_params(name))
    return sim.true_probabilities(plans_for(sim.snapshot()["patient_id"], **dose))


def test_long_sessions_harder_lowers_true_tolerance_mostly_of_long_sessions() -> None:
    long_base = _truth("base", aerobic_minutes=55)["p_tolerate_aerobic"]
    long_hard = _truth("long-sessions-harder", aerobic_minutes=55)["p_tolerate_aerobic"]
    short_base = _truth("base", aerobic_minutes=10)["p_tolerate_aerobic"]
    short_hard = _truth("long-sessions-harder", aerobic_minutes=10)["p_tolerate_aerobic"]
    assert (long_hard < long_base - 0.02).mean() > 0.9
    assert (long_base - long_hard).mean() > 4 * (short_base - short_hard).mean()


def test_advanced_cohort_is_older_more_stage_iv_and_on_chemotherapy() -> None:
    base = Simulator(400, seed=SEED).snapshot()
    adv = Simulator(400, seed=SEED, params=scenario_params("advanced-cohort")).snapshot()
    assert adv["age"].mean() > base["age"].mean() + 5
    assert (adv["stage"] == "IV").mean() > (base["stage"] == "IV").mean() + 0.25
    chemo = {"chemotherapy", "palliative"}
    assert adv["treatment_phase"].isin(chemo).mean() > base["treatment_phase"].isin(chemo).mean()


def test_hidden_confounder_is_larger_and_invisible_in_the_walk_test() -> None:
    def walk_trait_corr(name: str) -> tuple[float, float]:
        sim = Simulator(400, seed=SEED, params=scenario_params(name))
        snap = sim.snapshot()
        walk = snap["six_minute_walk_m"].to_numpy(float)
        resid = walk - (snap["true_vo2peak"].to_numpy(float) - 3.98) / 0.03
        ok = ~np.isnan(resid)
        return float(np.corrcoef(resid[ok], sim.c.trait[ok])[0, 1]), float(sim.c.trait.std())

    base_corr, base_sd = walk_trait_corr("base")
    hidden_corr, hidden_sd = walk_trait_corr("hidden-confounder")
    assert base_corr > 0.5 and abs(hidden_corr) < 0.2
    assert hidden_sd > 2 * base_sd


def test_weak_dose_tolerance_flattens_the_dose_response() -> None:
    def spread(name: str) -> float:
        hard = _truth(name, aerobic_minutes=60, aerobic_pct_hrmax=80)["p_tolerate_aerobic"]
        easy = _truth(name, aerobic_minutes=20, aerobic_pct_hrmax=55)["p_tolerate_aerobic"]
        return float((easy - hard).mean())

    assert spread("weak-dose-tolerance") < 0.5 * spread("base")


def test_intensity_driven_fitness_rewards_intensity_over_minutes() -> None:
    """Same weekly minutes x intensity factor at the reference, different split: under the
    scenario 2 x 45 min at 80% HRmax gains more VO2 than 6 x 30 min at 57.5% HRmax, under base
    they gain alike (stimulus 45 x 1.4 x 2 = 126 vs 30 x 0.5 x 6 = 90 -> base favours vigorous
    less)."""

    def gain(name: str, **dose: float) -> float:
        sim = Simulator(N, seed=SEED, params=scenario_params(name))

        def policy(snapshot, history, week):
            return plans_for(snapshot["patient_id"], resistance_sessions=0, **dose)

        sim.run(4, policy=policy)
        return float(np.mean(sim.vo2 - sim.c.vo2))

    vig = {"aerobic_sessions": 2, "aerobic_minutes": 45, "aerobic_pct_hrmax": 80}
    light = {"aerobic_sessions": 6, "aerobic_minutes": 30, "aerobic_pct_hrmax": 57.5}
    base_ratio = gain("base", **vig) / gain("base", **light)
    scen_ratio = gain("intensity-driven-fitness", **vig) / gain("intensity-driven-fitness", **light)
    assert scen_ratio > 1.3 * base_ratio
