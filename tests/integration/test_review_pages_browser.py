"""The review pages in a real browser: a real `dosewise serve` (BentoML) on 127.0.0.1 with a tiny
trained registry, Debian's headless Chromium driven by Selenium through Debian's chromedriver
(no browser download, no network).

Each page is opened by its signed `review_url` alone (as from a CDS card: no API key), its DOM
checked (decision, every fired rule id, the chart's points and labels), a screenshot kept under
`test-artifacts/ui/` (git-ignored), and Chromium's own network log checked: every request the
page made went to 127.0.0.1. A dose, a hold, a refer and a patient with no history.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from features.settings import PROJECT_ROOT, Settings, apply_offline_environment
from tests.servers import free_port, spawn_server, stop_server, wait_for

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
KEY = "browser-key-14"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MISSING = "Debian's chromium and chromium-driver are needed: run `bash .ci/install-system-deps`"


@dataclass
class Server:
    base: str
    root: Path
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    apply_offline_environment()
    from training.train import run_training

    root = tmp_path_factory.mktemp("browser")
    run_training(Settings(root=root, default_patients=300, default_weeks=8), None, 7)
    port = free_port()
    log = root / "server.log"
    proc = spawn_server(
        port, {"DOSEWISE_ROOT": str(root), "DOSEWISE_API_KEYS": KEY}, workers=1, log_path=log
    )
    srv = Server(f"http://127.0.0.1:{port}", root, log)
    try:
        assert wait_for(srv.base + "/readyz", timeout=180), srv.tail()
        yield srv
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(MISSING, pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dosewise-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,1400",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def request_body(kind: str) -> dict[str, Any]:
    body = json.loads((FIXTURES / "recommend-request.json").read_text())
    if kind == "hold":
        body["patient"]["labs"]["platelets_10e9_l"] = 12  # < 20 x10^9/L
    elif kind == "refer":
        body["patient"]["ecog"] = 3
    elif kind == "new":
        body["patient"]["patient_id"] = "pt-new-0001"
        body["sessions"], body["current_prescription"] = [], None
    return body


def requested(driver: Any) -> list[tuple[str, str]]:
    """(url, document url) of every request Chromium made since the last call (DevTools
    network log); the document url tells which page asked."""
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            params = msg["params"]
            out.append((params["request"]["url"], params.get("documentURL", "")))
    return out


def weekly_aerobic(body: dict[str, Any]) -> dict[str, float]:
    """Planned aerobic minutes per week start (as_of minus whole weeks), from the request."""
    import datetime as dt

    as_of = dt.date.fromisoformat(body["as_of"])
    out: dict[str, float] = {}
    for s in body["sessions"]:
        if s["modality"] != "aerobic":
            continue
        day = dt.date.fromisoformat(s["date"])
        start = as_of - dt.timedelta(days=7 * ((as_of - day).days // 7 + 1))
        out[start.strftime("%d %b")] = out.get(start.strftime("%d %b"), 0) + s["planned_minutes"]
    return out


@pytest.mark.parametrize("kind", ["dose", "hold", "refer", "new"])
def test_review_page_in_chromium(server: Server, browser: Any, kind: str) -> None:
    from selenium.webdriver.common.by import By

    body = request_body(kind)
    resp = httpx.post(server.base + "/recommend", json=body, headers=AUTH, timeout=60)
    assert resp.status_code == 200, resp.text + server.tail()
    rec = resp.json()
    expected = {"dose": None, "hold": "hold", "refer": "refer", "new": "progress"}[kind]
    assert expected is None or rec["decision"] == expected
    url = rec["review_url"]
    assert urlsplit(url).netloc == urlsplit(server.base).netloc

    browser.get("about:blank")
    requested(browser)  # drop what came before (the browser's own start-up pages)
    browser.get(url)
    banner = browser.find_element(By.ID, "banner")
    assert banner.text.startswith("Research software")
    # the stylesheet applied (its CSP hash matched): the banner's background is the sheet's
    assert banner.value_of_css_property("background-color") == "rgba(255, 244, 214, 1)"
    decision = browser.find_element(By.ID, "decision")
    assert decision.get_attribute("data-decision") == rec["decision"]
    assert rec["decision"].upper() in decision.text
    assert browser.find_element(By.ID, "patient-id").text == rec["patient_id"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#rules tr[data-rule-id]")
    shown = [r.get_attribute("data-rule-id") for r in rows]
    assert sorted(shown) == sorted(r["id"] for r in rec["rules"])
    if kind in ("hold", "refer"):
        assert rows[0].find_element(By.XPATH, "./td[1]").text == kind  # hold/refer first
        assert "No dose" in browser.find_element(By.ID, "prescription").text
    else:
        assert browser.find_element(By.CSS_SELECTOR, "#prescription tbody tr th").text

    # the chart: x labels (8 weeks + next week), the planned points, next week dashed
    chart = browser.find_element(By.ID, "chart-aerobic")
    labels = [t.text for t in chart.find_elements(By.CSS_SELECTOR, "text.x-tick")]
    assert len(labels) == 9 and labels[-1] == "next week"
    planned = {
        labels[int(c.get_attribute("data-x"))]: float(c.get_attribute("data-value"))
        for c in chart.find_elements(By.CSS_SELECTOR, "circle[data-series='planned']")
    }
    assert planned == weekly_aerobic(body)
    nxt = chart.find_element(By.CSS_SELECTOR, "circle[data-series='next']")
    a = (rec["prescription"] or {}).get("aerobic")
    minutes = a["sessions_per_week"] * a["minutes_per_session"] if a else 0
    assert float(nxt.get_attribute("data-value")) == pytest.approx(minutes)
    assert nxt.get_attribute("stroke-dasharray")
    assert chart.get_attribute("role") == "img"
    if kind == "new":
        missing = browser.find_element(By.ID, "missing").text
        assert "Exercise history" in missing and "Current prescription" in missing

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"review-{kind}.png"))
    log = requested(browser)
    network = [u for u, _ in log if urlsplit(u).scheme in ("http", "https", "ws", "wss", "ftp")]
    assert [u for u in network if urlsplit(u).hostname != "127.0.0.1"] == []  # nothing left
    page = [u for u, doc in log if doc == url]
    assert page == [url]  # the document only: no stylesheet, script, font or image fetched


def test_access_over_http(server: Server) -> None:
    rec = httpx.post(
        server.base + "/recommend", json=request_body("dose"), headers=AUTH, timeout=60
    ).json()
    url = urlsplit(rec["review_url"])
    page = f"{server.base}{url.path}"
    assert httpx.get(page).status_code == 401
    assert httpx.get(page, headers=AUTH).status_code == 200
    assert httpx.get(f"{page}?{url.query}".replace("sig=", "sig=0")).status_code == 403
    expired = f"{page}?exp={int(time.time()) - 1}&sig={'0' * 64}"
    assert httpx.get(expired).status_code == 403
    missing = httpx.get(f"{server.base}/ui/recommendations/{'a' * 32}", headers=AUTH)
    assert missing.status_code == 404 and missing.json() == {"error": "not_found"}


# --- the model card ------------------------------------------------------------------------------
def log_closed_loop_run(root: Path) -> dict[str, float]:
    """A closed-loop result logged the way `dosewise evaluate-policy` logs one (tiny numbers of
    our own: the card must show what the run holds)."""
    from evaluation.tracking import log_evaluation
    from serving.policy import PolicyConfig

    arms = {
        arm: {
            "vo2peak_change": 1.0 + i / 10,
            "strength_change_pct": 5.0 + i,
            "ae_moderate_or_serious_per_100_patients": 20.0 - i,
            "dropout": 0.1 + i / 100,
        }
        for i, arm in enumerate(("fixed", "dosewise", "oracle"))
    }
    result = {
        "scenario": "base",
        "patients": 20,
        "weeks": 4,
        "seed": 5,
        "bootstrap": {"seed": 5, "replicates": 0},
        "arms": arms,
        "models": "champion",
    }
    log_evaluation(Settings(root=root), result, PolicyConfig())
    return arms["dosewise"]


def test_model_card_numbers_equal_the_registry(server: Server, browser: Any) -> None:
    from mlflow import MlflowClient
    from selenium.webdriver.common.by import By
    from typer.testing import CliRunner

    from dosewise_cli import app
    from training.evaluate import core_metrics

    dosewise_arm = log_closed_loop_run(server.root)
    settings = Settings(root=server.root)
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    resp = httpx.get(server.base + "/ui/model-card", headers=AUTH, timeout=120)
    assert resp.status_code == 200, resp.text + server.tail()
    assert httpx.get(server.base + "/ui/model-card").status_code == 401

    # the page in Chromium: every overall figure equals the champion version's registry tags
    browser.get("about:blank")
    requested(browser)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {KEY}"}}
    )
    try:
        browser.get(server.base + "/ui/model-card")
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    for kind, name in (
        ("tolerance", settings.tolerance_model_name),
        ("adherence", settings.adherence_model_name),
    ):
        mv = client.get_model_version_by_alias(name, "champion")
        row = browser.find_element(By.CSS_SELECTOR, f"tr[data-model='{name}']")
        assert row.find_element(By.XPATH, "./td[2]").text == str(mv.version)
        assert mv.run_id in row.text
        for cell in browser.find_elements(By.CSS_SELECTOR, f"#overall-{kind} td[data-value]"):
            metric = cell.get_attribute("data-metric")
            assert float(cell.get_attribute("data-value")) == float(mv.tags[metric]), metric
            assert cell.text == f"{float(mv.tags[metric]):.4f}"
        rows = browser.find_elements(By.CSS_SELECTOR, f"#subgroups-{kind} tbody tr")
        assert {r.find_element(By.TAG_NAME, "th").text for r in rows} >= {
            "All held-out rows",
            "Stage IV",
            "On chemotherapy",
            "Age >= 70",
            "Female",
            "Male",
        }
        points = browser.find_elements(By.CSS_SELECTOR, f"#calibration-{kind} circle")
        assert len(points) == 10
    browser.save_screenshot(str(ARTIFACTS / "model-card.png"))
    log = requested(browser)
    assert [u for u, _ in log if urlsplit(u).scheme.startswith("http")
            and urlsplit(u).hostname != "127.0.0.1"] == []  # fmt: skip
    scenario = browser.find_element(By.CSS_SELECTOR, "table[data-scenario='base']").text
    assert f"{dosewise_arm['vo2peak_change']:.2f}" in scenario

    # the card's data: recomputed with training's own metric code on the held-out rows
    from serving.ui.modelcard import HELDOUT, build_model_card

    card = build_model_card(settings)
    assert card is not None and card["guideline"]["rules"] > 0
    for m in card["models"]:
        mv = client.get_model_version(m["name"], m["version"])
        assert m["overall"] == {k: float(mv.tags[k]) for k in m["overall"]}
        every = next(g for g in m["subgroups"] if g["group"] == "All held-out rows")
        assert every["auroc"] == pytest.approx(float(mv.tags["auroc"]), abs=1e-5)
        assert every["ece"] == pytest.approx(float(mv.tags["ece"]), abs=1e-5)
        assert every["n"] == float(mv.tags["n_test"])
        import mlflow
        import pandas as pd

        with tempfile.TemporaryDirectory() as tmp:
            frame = pd.read_parquet(client.download_artifacts(m["run_id"], HELDOUT, tmp))
        uri = f"models:/{m['name']}/{m['version']}"
        model = mlflow.sklearn.load_model(uri)
        cols = [c.name for c in mlflow.models.get_model_info(uri).signature.inputs.inputs]
        stage4 = frame[frame["stage"] == 4]
        p = model.predict_proba(stage4[cols])[:, 1]
        y = stage4["label"].to_numpy(dtype=int)
        ref = core_metrics(y, p, baseline=p, heuristic=p, oracle=p)
        got = next(g for g in m["subgroups"] if g["group"] == "Stage IV")
        assert got["auroc"] == pytest.approx(ref["auroc"]) and got["brier"] == pytest.approx(
            ref["brier"]
        )
        assert got["ece"] == pytest.approx(ref["ece"])

    # the command writes the same card, and each registered version carries it as an artifact
    out = server.root / "card" / "model-card.html"
    from features.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["model-card", "--out", str(out)], env={"DOSEWISE_ROOT": str(server.root)}
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "dosewise-tolerance" in out.read_text()
    from serving.ui.modelcard import log_model_cards

    assert log_model_cards(settings)
    for name in (settings.tolerance_model_name, settings.adherence_model_name):
        mv = client.get_model_version_by_alias(name, "champion")
        files = [a.path for a in client.list_artifacts(mv.run_id, "model_card")]
        assert files == ["model_card/model_card.html"]
