"""The recommendation review page in process (the BentoML app via TestClient, stand-in models):
`review_url` on /recommend and /recommend_batch, access (key, signed link, 401/403/404), what
the page shows for a dose, a hold and a patient with no history, what is stored and for how long.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from features.settings import Settings
from serving.audit import audit_log
from serving.http.gateway import metric_labels
from serving.http.runtime import RUNTIME, configure
from serving.service import asgi_app
from serving.ui import links, store
from serving.ui.considered import envelope_reason
from serving.ui.routes import review_secret
from tests.fakes import fake_models

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEY = "ui-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("ui")
    configure(settings=Settings(root=root, api_keys=KEY), model_loader=lambda s: fake_models())
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as c:
            yield c
    finally:
        RUNTIME.close()
        configure()


def body() -> dict[str, Any]:
    return json.loads((FIXTURES / "recommend-request.json").read_text())


def hold_body() -> dict[str, Any]:
    b = body()
    b["patient"]["labs"]["platelets_10e9_l"] = 12  # < 20: hold
    return b


def new_patient_body() -> dict[str, Any]:
    b = body()
    b["patient"]["patient_id"] = "pt-new-1"
    b["sessions"], b["current_prescription"] = [], None
    return b


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def recommend(client: TestClient, b: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/recommend", json=b, headers=AUTH)
    assert resp.status_code == 200, resp.text
    return resp.json()


def open_page(client: TestClient, rec: dict[str, Any]) -> str:
    page = client.get(local(rec["review_url"]))  # the signed link alone, no key
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    # the one inlined stylesheet is exactly what the CSP hash allows (else the browser drops it)
    css = re.search(r"<style>(.*?)</style>", page.text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp and "&#34;" not in css
    return page.text


def assert_self_contained(html: str) -> None:
    """No script, no inline style attribute, nothing fetched from anywhere."""
    assert "<script" not in html.lower()
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\s(src|href|action)=", html)
    assert "@import" not in html and "url(" not in html


def test_recommend_carries_a_signed_review_url_to_a_page_showing_it(client: TestClient) -> None:
    rec = recommend(client, body())
    url = urlsplit(rec["review_url"])
    page_id = url.path.rsplit("/", 1)[1]
    assert url.path == links.page_path(page_id) and re.fullmatch(r"[0-9a-f]{32}", page_id)
    html = open_page(client, rec)
    assert_self_contained(html)
    assert "Research software, not a medical device" in html
    assert f'data-decision="{rec["decision"]}"' in html
    assert rec["patient_id"] in html and rec["as_of"] in html
    assert rec["guideline_version"] in html
    for rule in rec["rules"]:
        assert f'data-rule-id="{rule["id"]}"' in html
    for code in rec["prescription"]["restrictions"]:
        assert f'data-code="{code}"' in html
    a = rec["prescription"]["aerobic"]
    next_minutes = a["sessions_per_week"] * a["minutes_per_session"]
    assert re.search(rf'data-series="next" data-x="\d+" data-value="{next_minutes:g}"', html)
    assert 'id="considered"' in html and "outcome-chosen" in html
    assert 'class="gauge-fill' in html  # predictions drawn against the bounds


def test_key_link_and_errors(client: TestClient) -> None:
    rec = recommend(client, body())
    path = urlsplit(rec["review_url"]).path
    page_id = path.rsplit("/", 1)[1]
    assert client.get(path, headers=AUTH).status_code == 200  # the API key alone
    assert client.get(path).status_code == 401  # neither
    assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
    forged = local(rec["review_url"]).replace("sig=", "sig=f")
    assert client.get(forged).status_code == 403
    secret = review_secret()
    expired = links.signed_query(page_id, secret, 60, now=dt.datetime(2020, 1, 1).timestamp())
    resp = client.get(f"{path}?{expired}")
    assert resp.status_code == 403 and resp.json() == {"error": "forbidden"}
    other = "0" * 32  # a valid link to one page opens no other
    assert (
        client.get(f"{links.page_path(other)}?{urlsplit(rec['review_url']).query}").status_code
        == 403
    )
    unknown = client.get(links.page_path(other), headers=AUTH)
    assert unknown.status_code == 404 and unknown.json() == {"error": "not_found"}
    assert client.get("/ui/recommendations/not-an-id", headers=AUTH).status_code == 404
    # a signed link opens nothing but its page
    assert client.get(f"/ui/model-card?{urlsplit(rec['review_url']).query}").status_code == 401


def test_batch_items_each_get_their_own_page(client: TestClient) -> None:
    resp = client.post("/recommend_batch", json=[body(), hold_body()], headers=AUTH)
    assert resp.status_code == 200, resp.text
    a, b = resp.json()
    assert a["review_url"] != b["review_url"]
    assert 'data-decision="hold"' in open_page(client, b)


def test_a_hold_shows_no_dose_and_its_hold_rule_first(client: TestClient) -> None:
    rec = recommend(client, hold_body())
    assert rec["decision"] == "hold" and rec["prescription"] is None
    html = open_page(client, rec)
    assert 'data-decision="hold"' in html and "No dose: hold" in html
    ids = re.findall(r'data-rule-id="([^"]+)"', html)
    kinds = [r["kind"] for r in rec["rules"] if r["id"] == ids[0]]
    assert kinds == ["hold"] and set(ids) == {r["id"] for r in rec["rules"]}
    assert 'data-series="next" data-x="8" data-value="0"' in html  # no dose next week


def test_a_patient_without_history(client: TestClient) -> None:
    rec = recommend(client, new_patient_body())
    html = open_page(client, rec)
    assert "Exercise history (no sessions" in html and "Current prescription (none" in html
    assert re.findall(r'data-series="(planned|completed)"', html) == []  # nothing to draw
    assert 'data-series="next"' in html


def test_the_page_row_is_tied_to_its_audit_row_and_holds_no_raw_request(
    client: TestClient,
) -> None:
    rec = recommend(client, body())
    page_id = urlsplit(rec["review_url"]).path.rsplit("/", 1)[1]
    engine = RUNTIME.audit.engine
    with engine.connect() as conn:
        page = conn.execute(
            select(store.review_page).where(store.review_page.c.id == page_id)
        ).one()
        audit = conn.execute(
            select(audit_log).where(
                audit_log.c.writer_id == page.writer_id, audit_log.c.seq == page.seq
            )
        ).one()
    assert audit.patient_id == page.patient_id == rec["patient_id"]
    assert audit.rules == [r["id"] for r in rec["rules"]]
    text = json.dumps(page.data)
    for raw in ("planned_minutes", "avg_hr", "completed_sets", "planned_pct_hrmax", "2026-11-12"):
        assert raw not in text  # weekly sums and the history's date range, never session rows


def test_pages_past_retention_are_gone_and_purged(client: TestClient) -> None:
    rec = recommend(client, body())
    page_id = urlsplit(rec["review_url"]).path.rsplit("/", 1)[1]
    engine = RUNTIME.audit.engine
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=91)
    assert store.load_page(engine, page_id, 90) is not None
    assert store.load_page(engine, page_id, 90, now=later) is None
    assert store.purge(engine, 90, now=later) >= 1
    assert client.get(links.page_path(page_id), headers=AUTH).status_code == 404


def test_envelope_reason_names_the_broken_bound() -> None:
    from serving.guidelines import kernel as gk
    from serving.policy import PolicyConfig

    facts = {"ecog": 1, "platelets_10e9_l": 30, "fatigue": 2, "pain": 1}  # 20-50: no resistance
    env = gk.evaluate(facts).envelope
    cfg = PolicyConfig()
    ok = [3, 20, 58, 0, 0, 0, 0]
    assert envelope_reason(ok, env, cfg) is None
    assert "intensity at most" in envelope_reason([3, 20, 70, 0, 0, 0, 0], env, cfg)
    assert "resistance" in envelope_reason([3, 20, 58, 2, 2, 12, 50], env, cfg)


def test_ui_paths_have_bounded_metric_labels() -> None:
    assert metric_labels(links.page_path("a" * 32), 403) == ("ui/recommendations", "403")
    assert metric_labels("/ui/model-card", 200) == ("ui/model-card", "200")
    assert metric_labels("/ui/whatever", 404) == ("other", "404")


def test_page_structure_is_accessible(client: TestClient) -> None:
    """Headings in order (never skipping a level), every table with header cells, every chart
    and gauge with a title, the language declared."""
    html = open_page(client, recommend(client, body()))
    assert '<html lang="en">' in html
    levels = [int(h) for h in re.findall(r"<h([1-6])[\s>]", html)]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(levels))
    tables = re.findall(r"<table.*?</table>", html, re.S)
    assert tables and all("<th" in t for t in tables)
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 4  # two charts, two gauges
    assert all('role="img"' in s and "<title" in s for s in svgs)


def test_drivers_are_grouped_in_clinical_words() -> None:
    from serving.policy import Contribution
    from serving.ui.pagedata import group_drivers, plain_feature

    assert plain_feature("completion_rate_14d") == "completion rate (last 14 days)"
    assert plain_feature("rpe_over_target_last5") == "effort (RPE) over target (last 5 sessions)"
    groups = group_drivers(
        [
            Contribution("completion_rate_14d", 0.4),
            Contribution("platelets_10e9_l", -0.3),
            Contribution("days_since_infusion", 0.1),
            Contribution("vo2peak_ml_kg_min", 0.05),
            Contribution("aerobic_minutes", -0.02),
        ]
    )
    assert [g["group"] for g in groups] == [
        "Recent sessions",
        "Labs and vitals",
        "Treatment and cancer",
        "Fitness",
        "The dose itself",
    ]
    assert groups[1]["items"][0]["direction"] == "lowers"


def test_trajectory_sums_weeks_and_marks_events() -> None:
    from features.contract.rest import RecommendRequest
    from serving.ui.pagedata import trajectory
    from tests.fakes import hold_recommendation

    b = body()
    b["patient"]["days_since_infusion"] = 3  # 2026-11-17: the last week shown
    req = RecommendRequest.model_validate(b)
    t = trajectory(req, hold_recommendation())
    weeks = {w["start"]: w for w in t["weeks"]}
    assert len(t["weeks"]) == 8 and t["weeks"][-1]["start"] == "2026-11-13"
    # 2026-11-06..12: aerobic 30 planned (11-09, done 30) + 30 planned (11-12, missed)
    assert weeks["2026-11-06"]["planned_aerobic"] == 60
    assert weeks["2026-11-06"]["completed_aerobic"] == 30
    # resistance 2 sets x 12 reps x 50% = 12 per session
    assert weeks["2026-11-06"]["planned_load"] == 12.0
    assert weeks["2026-11-13"]["adverse_event"] == "mild"
    assert t["infusions"] == [{"x": 7, "date": "2026-11-17"}]
    assert t["next_aerobic"] == 0.0 and t["next_load"] == 0.0
    # the next infusion: marked in next week's column; one past any date (the contract bounds
    # it below only) is off the chart, never an error (schemathesis found the 500)
    b["patient"]["next_infusion_in_days"] = 4
    near = trajectory(RecommendRequest.model_validate(b), hold_recommendation())
    assert near["infusions"][-1] == {"x": 8, "date": "2026-11-24"}
    b["patient"]["next_infusion_in_days"] = 471065392
    far = trajectory(RecommendRequest.model_validate(b), hold_recommendation())
    assert far["infusions"] == [{"x": 7, "date": "2026-11-17"}]


def test_the_page_shows_what_was_decided_then_after_a_promotion_and_a_policy_change(
    client: TestClient,
) -> None:
    """/recommend stores the "doses considered" inputs, not the table; the table is made when
    the page is opened, scored by the model versions that made the recommendation (loaded from
    the registry after a promotion) with the policy settings of then: a new champion and
    stricter settings since change what a new recommendation's page says, never an earlier
    page. When those versions cannot be loaded the page still opens, the table unavailable."""
    from dataclasses import replace as replaced

    from serving.models import ModelUnavailableError
    from serving.ui.considered import INPUTS_KEY

    b = body()
    rec = recommend(client, b)
    page_id = urlsplit(rec["review_url"]).path.rsplit("/", 1)[1]
    with RUNTIME.audit.engine.connect() as conn:
        stored = conn.execute(
            select(store.review_page.c.data).where(store.review_page.c.id == page_id)
        ).scalar_one()
    assert stored["considered"] is None and stored[INPUTS_KEY]["option"]  # made on opening
    before = open_page(client, rec)
    assert 'id="considered"' in before and "outcome-chosen" in before

    def table(html: str) -> str:
        return re.search(r'<table id="considered">.*?</table>', html, re.S).group(0)

    models, cfg, versions = RUNTIME.models, RUNTIME.policy_cfg, RUNTIME.model_versions
    promoted = fake_models(scale=0.4)
    promoted = replaced(promoted, tolerance=replaced(promoted.tolerance, version="7"))
    asked: list[tuple[str, str]] = []

    def registry(_settings: Settings, wanted: tuple[str, str]) -> Any:
        asked.append(wanted)
        if wanted != versions:
            raise ModelUnavailableError("no such version")
        return fake_models()  # the same stand-in the recommendation was made with

    try:
        RUNTIME.models, RUNTIME.model_versions = promoted, ("7", versions[1])
        RUNTIME.policy_cfg = replaced(cfg, tolerance_threshold=0.97)
        RUNTIME.options.version_loader = registry
        after = open_page(client, rec)
        fresh = open_page(client, recommend(client, b))
        RUNTIME._earlier.clear()
        RUNTIME.options.version_loader = lambda s, v: registry(s, ("gone", "gone"))
        unavailable = open_page(client, rec)
    finally:
        RUNTIME.models, RUNTIME.policy_cfg, RUNTIME.model_versions = models, cfg, versions
        RUNTIME.options.version_loader = None
        RUNTIME._earlier.clear()
    assert after == before
    assert asked[0] == versions  # the page asked for the versions that made it, once
    assert table(fresh) != table(before)  # the change is real: a new page differs
    assert '<table id="considered">' not in unavailable and rec["patient_id"] in unavailable


def test_an_infusion_past_any_date_still_gets_a_page(client: TestClient) -> None:
    # schemathesis found this 500: the page's trajectory made a date of the next infusion
    b = body()
    b["patient"]["next_infusion_in_days"] = 471065392  # the contract bounds it below only
    resp = client.post("/recommend_batch", json=[b], headers=AUTH)
    assert resp.status_code == 200, resp.text
    open_page(client, resp.json()[0])
