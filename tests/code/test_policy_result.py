"""The policy's typed result (`serving.policy.result`) and its one conversion to the contract."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from features.contract.convert import requests_to_columns
from features.contract.rest import RecommendRequest, RecommendResponse
from serving.policy import (
    PLAN_COLUMNS,
    PatientInputs,
    Plan,
    PolicyConfig,
    Recommendation,
    recommend,
    response_json,
)
from tests.fakes import fake_models, hold_recommendation

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "recommend-request.json"


def test_plan_round_trips_through_an_array_in_plan_column_order() -> None:
    values = np.array([3, 30.0, 65.0, 2, 2, 12, 50.0])
    plan = Plan.from_array(values)
    assert plan.aerobic_minutes == 30.0 and plan.resistance_pct_1rm == 50.0
    np.testing.assert_array_equal(plan.as_array(), values)
    assert list(plan.as_dict()) == list(PLAN_COLUMNS)
    with pytest.raises(AttributeError):
        plan.aerobic_sessions = 4  # type: ignore[misc]  # frozen


def test_an_unknown_decision_is_refused() -> None:
    import dataclasses

    with pytest.raises(ValueError, match="unknown decision"):
        dataclasses.replace(hold_recommendation(), decision="maybe")


@pytest.mark.parametrize("constant", [None, 0.05])  # progress / maintain, and a deload
def test_the_unvalidated_response_is_what_validation_would_give(constant: float | None) -> None:
    req = RecommendRequest.model_validate(json.loads(FIXTURE.read_text()))
    patients, sessions = requests_to_columns([req])
    models = fake_models() if constant is None else fake_models(constant=constant)
    [rec] = recommend(patients, sessions, req.as_of, models, PolicyConfig())
    assert isinstance(rec, Recommendation) and rec.prescription is not None
    wire = response_json(rec, "https://d.test/ui/recommendations/x")
    assert RecommendResponse.model_validate(wire).model_dump(mode="json") == wire
    assert wire["model"]["tolerance"] == {"name": "fake-tolerance", "version": "0"}
    assert rec.reference_plan is not None and rec.progression_reference is not None
    assert wire["progression_reference"]["aerobic_sessions"] == round(
        rec.reference_plan.aerobic_sessions
    )
    hold = response_json(hold_recommendation())
    assert RecommendResponse.model_validate(hold).model_dump(mode="json") == hold
    assert hold["prescription"] is None and hold["rules"][0]["id"] == "hold.fever"


def test_monitoring_inputs_from_the_policys_rows_equal_the_rows_built_again() -> None:
    """The monitoring row reuses the feature row the policy scored: same numbers as building
    the features of the request again (what it did before)."""
    from features import FEATURE_SET
    from features.pipeline import build_rows
    from serving.http.work import recommend_many
    from serving.monitoring import model_inputs

    base = json.loads(FIXTURE.read_text())
    other = base | {"as_of": dt.date(2026, 11, 27).isoformat()}
    reqs = [RecommendRequest.model_validate(b) for b in (base, other, base | {"sessions": []})]
    derived: list[PatientInputs] = []
    recommend_many(reqs, fake_models(), PolicyConfig(), inputs=derived)
    got = model_inputs([d.row for d in derived])
    for i, req in enumerate(reqs):
        assert req.as_of is not None
        patients, sessions = requests_to_columns([req], [f"r{i}"], req.as_of)
        rows = build_rows(patients, sessions, req.as_of)
        want = {
            n: None if np.isnan(v) else float(v)
            for n, v in zip(FEATURE_SET.columns, rows.matrix[:, 0], strict=True)
        }
        assert got[i] == want
