"""What /recommend writes beside its answer costs no second scoring: the monitoring row carries
the predictions the search made for the week it chose, and the review page stores its inputs
(the table is scored when the page is opened)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from features.contract.rest import RecommendRequest
from serving.http.work import recommend_many
from serving.monitoring import served_inputs
from serving.policy import Models, PatientInputs, PolicyConfig
from serving.ui.considered import INPUTS_KEY, considered_doses, considered_table
from serving.ui.routes import prepare_pages
from tests.fakes import FakeAdherence, FakeTolerance

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "recommend-request.json"


@dataclass
class Counted:
    """A model that counts the rows it is asked to predict."""

    inner: object
    rows: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> str:
        return self.inner.version

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.rows.append(len(X))
        return self.inner.predict(X)

    def explain(self, X: np.ndarray) -> np.ndarray | None:
        return self.inner.explain(X)


def _requests() -> list[RecommendRequest]:
    base = json.loads(FIXTURE.read_text())
    new = json.loads(FIXTURE.read_text()) | {"sessions": []}
    new.pop("current_prescription", None)
    hold = json.loads(FIXTURE.read_text())
    hold["patient"]["labs"]["platelets_10e9_l"] = 12
    return [RecommendRequest.model_validate(b) for b in (base, new, hold)]


def test_monitoring_and_review_rows_ask_the_models_nothing_more() -> None:
    tolerance, adherence = Counted(FakeTolerance()), Counted(FakeAdherence())
    models, cfg = Models(tolerance=tolerance, adherence=adherence), PolicyConfig()
    reqs = _requests()
    derived: list[PatientInputs] = []
    recs = recommend_many(reqs, models, cfg, inputs=derived)
    asked = (len(tolerance.rows), len(adherence.rows))
    rows = served_inputs([d.row for d in derived], recs, models)
    pages = prepare_pages(reqs, recs, models, cfg, derived)
    assert (len(tolerance.rows), len(adherence.rows)) == asked  # no model call after the policy

    for req, rec, served, (_, page) in zip(reqs, recs, rows, pages, strict=True):
        if rec.prescription is None:  # hold: no dose, no per-modality prediction, no table
            assert served.modality is None and INPUTS_KEY not in page
            continue
        s = rec.scored
        assert served.modality["tolerance_aerobic"] == round(s.tolerance[0], 6)
        assert served.modality["adherence_resistance"] == round(s.attendance[1], 6)
        assert served.modality["sessions_aerobic"] == s.plan.aerobic_sessions
        present = [t for t in s.tolerance if t is not None]
        assert rec.predictions.tolerance == round(min(present), 4)
        stored = json.loads(json.dumps(page[INPUTS_KEY]))  # what the database gives back
        assert page["considered"] is None and stored["models"] == ["0", "0"]
        # opened later: the same table the request's own inputs give
        assert considered_table(stored, models) == considered_doses(req, rec, models, cfg)
    assert sum(INPUTS_KEY in p for _, p in pages) == 2


def test_pages_stored_before_the_inputs_open_as_they_were() -> None:
    """A page row written before the table was made on opening holds the table itself: shown
    as stored, no model asked; stored inputs that cannot be read give an unavailable table."""
    from serving.ui.considered import with_considered_table

    def no_models(_: tuple[str, str]) -> None:
        raise AssertionError("no model is needed for an old page")

    old = {"decision": "maintain", "considered": {"rows": [], "grid": {}, "risk_bound": 1.0}}
    assert with_considered_table(old, no_models) is old
    broken = {"decision": "maintain", "considered": None, INPUTS_KEY: {"models": ["1", "1"]}}
    shown = with_considered_table(broken, lambda v: None)
    assert shown["considered"] is None and INPUTS_KEY not in shown
