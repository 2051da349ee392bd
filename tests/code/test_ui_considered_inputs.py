"""The review page's "doses considered" from the policy's own derived inputs (the REST path)
equal those rebuilt from the request (the CDS path): one computation, two ways in."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from features.contract.rest import RecommendRequest
from serving.http.work import recommend_many
from serving.policy import PatientInputs, PolicyConfig
from serving.ui.considered import considered_doses
from tests.fakes import fake_models

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "recommend-request.json"


def _requests() -> list[RecommendRequest]:
    base = json.loads(FIXTURE.read_text())
    no_history = copy.deepcopy(base) | {"sessions": []}
    other_day = copy.deepcopy(base) | {"as_of": (dt.date(2026, 11, 27)).isoformat()}
    return [RecommendRequest.model_validate(b) for b in (base, no_history, other_day)]


@pytest.mark.parametrize("batch", [False, True])
def test_considered_from_the_policys_inputs_equals_the_rebuilt_one(batch: bool) -> None:
    models, cfg = fake_models(), PolicyConfig()
    reqs = _requests()
    for chunk in [reqs] if batch else [[r] for r in reqs]:
        derived: list[PatientInputs] = []
        resps = recommend_many(chunk, models, cfg, inputs=derived)
        assert len(derived) == len(chunk)
        for req, resp, known in zip(chunk, resps, derived, strict=True):
            reused = considered_doses(req, resp, models, cfg, known)
            rebuilt = considered_doses(req, resp, models, cfg)
            assert reused == rebuilt
            assert resp.prescription is None or reused is not None


def test_the_page_names_the_session_6_rules_as_the_reason_a_step_was_not_an_option(
    monkeypatch,
) -> None:
    """The fixture patient (2 aerobic, 2 resistance sessions): a third resistance session waits
    for the aerobic target; with a tolerated aerobic week, "5 min longer" is not an option
    because sessions are added before they get longer. The page says so, not "more than one
    progression step"."""
    from dataclasses import replace

    import serving.ui.considered as considered

    models, cfg = fake_models(), PolicyConfig()
    req = _requests()[0]
    derived: list[PatientInputs] = []
    (resp,) = recommend_many([req], models, cfg, inputs=derived)
    assert resp.prescription.resistance.sessions_per_week == 2
    page = considered_doses(req, resp, models, cfg, derived[0])
    rows = {(r["modality"], r["step"]): r for r in page["rows"]}
    third = rows[("resistance", "one more session")]
    assert third["outcome"] == "progression"
    assert "waits until aerobic meets the guideline target" in third["reason"]

    real = considered.contexts_for  # the same patient after a tolerated aerobic week
    monkeypatch.setattr(
        considered,
        "contexts_for",
        lambda *a: [replace(c, rise=(True, c.rise[1])) for c in real(*a)],
    )
    page = considered_doses(req, resp, models, cfg, derived[0])
    longer = {(r["modality"], r["step"]): r for r in page["rows"]}[("aerobic", "5 min longer")]
    assert resp.prescription.aerobic.sessions_per_week < 4
    assert longer["outcome"] == "progression"
    assert "sessions are added before they get longer" in longer["reason"]


def _first_page_inputs() -> tuple[Any, PolicyConfig, dict[str, Any]]:
    """Models, the default policy and the stored page inputs of the first contract request."""
    from serving.ui.considered import considered_inputs

    models, cfg = fake_models(), PolicyConfig()
    req = _requests()[0]
    derived: list[PatientInputs] = []
    (resp,) = recommend_many([req], models, cfg, inputs=derived)
    inputs = considered_inputs(req, resp, cfg, derived[0])
    assert inputs is not None
    return models, cfg, inputs


def test_the_page_names_the_searchs_own_per_session_bound() -> None:
    """The bound a "predicted tolerance below the bound" reason names is the search's: the
    setting, but never stricter than the generic dose's own predicted tolerance
    (`generic_session_floor`); without the floor it is the setting itself. (The page used to
    name the setting in both cases, a bound the search did not apply.)"""
    import re

    from serving.ui.considered import considered_table

    models, _, inputs = _first_page_inputs()

    def bounds(**policy) -> set[float]:
        table = considered_table(inputs | {"policy": inputs["policy"] | policy}, models)
        found = (re.search(r"below the bound ([\d.]+)", r["reason"]) for r in table["rows"])
        return {float(m.group(1)) for m in found if m}

    strict = bounds(tolerance_threshold=0.99, generic_session_floor=False)
    floored = bounds(tolerance_threshold=0.99, generic_session_floor=True)
    assert strict == {0.99}
    assert all(b < 0.99 for b in floored)  # the floor lowered it (or nothing fell below it)


def test_the_page_names_the_policys_aerobic_session_cap() -> None:
    """A patient on 4 aerobic sessions and 1 resistance session after a tolerated week: a 5th
    aerobic session is inside the kernel's 6 a week, so the page names the policy's own cap of 4
    (`max_aerobic_sessions`); under a policy that allows 5 it does not."""
    from serving.ui.considered import considered_table

    models, cfg, inputs = _first_page_inputs()
    chosen = list(inputs["chosen"])
    assert chosen[0] >= 1 and chosen[3] >= 1  # both modalities, so the same alternatives
    chosen[0], chosen[1], chosen[3] = 4.0, 18.0, 1.0  # 5 x 18 min fits the +10% volume
    forced = inputs | {
        "chosen": chosen,
        "rise": [True, True],
        "clean": [True, True],
        "option": [False] * len(inputs["option"]),
    }

    def reason(**policy) -> str:
        table = considered_table(forced | {"policy": inputs["policy"] | policy}, models)
        rows = [r for r in table["rows"] if r["modality"] == "aerobic"]
        return next(r["reason"] for r in rows if r["step"] == "one more session")

    assert cfg.max_aerobic_sessions == 4
    assert "at most 4 aerobic sessions a week" in reason()
    assert "aerobic sessions a week" not in reason(max_aerobic_sessions=5)
