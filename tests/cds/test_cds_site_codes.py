"""A site's own symptom-score codes (`DOSEWISE_CDS_SYMPTOM_CODES`) through the CDS service in
process: discovery asks for them, and a fatigue score recorded under one is read. Its own module:
each test starts its own runtime (the service module shares one for all its tests)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.cds.helpers import auth, cds_client
from tests.cds.test_cds_service import OS, call, order, order_sign_body


def _score(obs_id: str, system: str, code: str, value: int) -> dict[str, Any]:
    """A 0-10 symptom score recorded yesterday (the fixtures are dated for today)."""
    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/pt-chemo"},
        "effectiveDateTime": day,
        "valueInteger": value,
    }


def test_a_site_fatigue_code_lifts_the_symptomatic_day_band(tmp_path: Path) -> None:
    """With the site's fatigue code configured (DOSEWISE_CDS_SYMPTOM_CODES) discovery asks for
    it, and a recorded fatigue 3 plus a LOINC pain 1 lift the 10-minute band: a 2 x 20 min light
    order is then within the limits, while without the setting the same record keeps fatigue
    unknown and the order gets a critical card."""
    site = "urn:oid:2.16.840.1.113883.3.9999.1"
    body = order_sign_body("chemo", order("sr-site", 2, 20, 55, 60))
    body["prefetch"]["observations"]["entry"] += [
        {"resource": _score("fat-1", site, "ESAS-TIREDNESS", 3)},
        {"resource": _score("pain-1", "http://loinc.org", "72514-3", 1)},
    ]
    (tmp_path / "site").mkdir()
    (tmp_path / "plain").mkdir()
    with cds_client(tmp_path / "site", cds_symptom_codes=f"{site}|ESAS-TIREDNESS=fatigue") as c:
        found = c.get("/cds-services", headers=auth("/cds-services")).json()
        query = found["services"][0]["prefetch"]["observations"]
        assert f"{site}|ESAS-TIREDNESS" in query and "http://loinc.org|72514-3" in query
        resp = call(c, OS, body)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"cards": []}
    with cds_client(tmp_path / "plain") as c:
        resp = call(c, OS, body)
        assert resp.status_code == 200, resp.text
        [card] = resp.json()["cards"]
        assert card["indicator"] == "critical"


def test_a_site_code_dosewise_already_reads_is_ignored_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A service started without `dosewise serve`'s check (which refuses to start) and a site
    code that names LOINC's pain score as fatigue: the error is logged and the site's codes are
    ignored, so fatigue stays unknown (the stricter band: a critical card for 2 x 20 min), never
    read from a pain score."""
    body = order_sign_body("chemo", order("sr-site", 2, 20, 55, 60))
    body["prefetch"]["observations"]["entry"] += [
        {"resource": _score("pain-1", "http://loinc.org", "72514-3", 1)},
    ]
    with (
        caplog.at_level(logging.ERROR),
        cds_client(tmp_path, cds_symptom_codes="http://loinc.org|72514-3=fatigue") as c,
    ):
        resp = call(c, OS, body)
        assert resp.status_code == 200, resp.text
        [card] = resp.json()["cards"]
        assert card["indicator"] == "critical"
    assert any("72514-3 is a code Dosewise already reads" in r.getMessage() for r in caplog.records)


def test_a_booked_infusion_lifts_the_infusion_day_band(tmp_path: Path) -> None:
    """On chemotherapy, 9 days after an infusion, with fatigue and pain scored: without a next
    infusion date the kernel reads the infusion day (light only, kernel 2026.12.2), so a 2 x 20
    min order at 64-68% HRmax gets a critical card; with the next infusion booked in 12 days (a
    chemotherapy Appointment, discovery's `appointments` prefetch) the same order is within the
    limits."""
    site = "urn:oid:2.16.840.1.113883.3.9999.1"
    today = dt.datetime.now(dt.UTC).date()
    booked = {
        "resourceType": "Appointment",
        "id": "appt-c2",
        "status": "booked",
        "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "367336001"}]}],
        "start": f"{today + dt.timedelta(days=12)}T09:00:00Z",
        "participant": [{"actor": {"reference": "Patient/pt-chemo"}, "status": "accepted"}],
    }
    scores = [
        {"resource": _score("fat-1", site, "ESAS-TIREDNESS", 3)},
        {"resource": _score("pain-1", "http://loinc.org", "72514-3", 1)},
    ]
    verdicts = []
    with cds_client(tmp_path, cds_symptom_codes=f"{site}|ESAS-TIREDNESS=fatigue") as c:
        for appointments in ([], [booked]):
            body = order_sign_body("chemo", order("sr-moderate", 2, 20, 64, 68))
            body["prefetch"]["observations"]["entry"] += scores
            body["prefetch"]["appointments"]["entry"] = [{"resource": a} for a in appointments]
            resp = call(c, OS, body)
            assert resp.status_code == 200, resp.text
            verdicts.append([card["indicator"] for card in resp.json()["cards"]])
    assert verdicts == [["critical"], []]
