"""Observations: stage, ECOG, labs, vitals, height and weight (the newest value on or before
`as_of`, converted to the contract's units), and the Physical Activity IG activity observations
that become the contract's sessions (durations, mean heart rate, perceived exertion converted to
Borg 6-20, resistance or aerobic)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from features.contract.vocab import MAX_SESSIONS_PER_REQUEST
from serving.cds.fhir_map.code_tables import (
    ACTIVITY_CODE,
    BORG_CR10_TO_RPE,
    BP_PANEL,
    DURATION_CODE,
    ECOG_ANSWERS,
    ECOG_CODE,
    LOINC,
    MEAN_HR_CODE,
    PA_PANEL_CODE,
    QUANTITIES,
    RPE_CODE,
    STAGE_CODES,
    SYMPTOM_DAYS,
    SYMPTOM_SCORES,
    unit_of,
)
from serving.cds.fhir_map.readers import (
    OBS_BAD_STATUS,
    read_codes,
    read_codings,
    read_number,
    read_texts,
    read_when,
    reference_of,
)
from serving.cds.fhir_map.result import Builder


def _newest(
    obs: list[Mapping[str, Any]], as_of: dt.date
) -> list[tuple[dt.date, Mapping[str, Any]]]:
    dated = []
    for o in obs:
        if o.get("status") in OBS_BAD_STATUS:
            continue
        day = read_when(o, "effective")
        if day is None or day > as_of:
            continue
        dated.append((day, o))
    dated.sort(key=lambda t: t[0], reverse=True)
    return dated


def _stage(o: Mapping[str, Any]) -> str | None:
    concept = o.get("valueCodeableConcept")
    candidates = [c.get("code") for c in read_codings(concept)] + read_texts(concept)
    for text in candidates:
        m = re.search(
            r"(?:^|[^A-Za-z])(IV|III|II|I|[1-4])(?:[A-Ca-c]\d?)?(?:$|[^A-Za-z0-9])", str(text)
        )
        if m:
            return {"1": "I", "2": "II", "3": "III", "4": "IV"}.get(m.group(1), m.group(1))
    return None


def _ecog(o: Mapping[str, Any]) -> int | None:
    if isinstance(o.get("valueInteger"), int):
        value: float | None = o["valueInteger"]
    elif isinstance(o.get("valueQuantity"), Mapping):
        value = read_number(o["valueQuantity"].get("value"))
    else:
        value = None
        for c in read_codings(o.get("valueCodeableConcept")):
            code = str(c.get("code"))
            if code in ECOG_ANSWERS:
                value = ECOG_ANSWERS[code]
            elif code.isdigit():
                value = int(code)
    if value is None or value != int(value) or not 0 <= value <= 4:
        return None
    return int(value)


def map_observations(
    b: Builder,
    observations: list[Mapping[str, Any]],
    site_codes: Sequence[tuple[str, str, str]] = (),
) -> None:
    """`site_codes`: the site's (system, code, symptom) symptom scores (Settings.symptom_codes)."""
    by_code: dict[str, list[Mapping[str, Any]]] = {}
    for o in observations:
        for code in set(read_codes(o.get("code"), LOINC)):
            by_code.setdefault(code, []).append(o)
    for code, (path, convert) in QUANTITIES.items():
        candidates = [
            (d, o, o.get("valueQuantity")) for d, o in _newest(by_code.get(code, []), b.as_of)
        ]
        if code in ("8480-6", "8462-4"):  # also the components of a BP panel
            for d, o in _newest(by_code.get(BP_PANEL, []), b.as_of):
                for comp in o.get("component") or []:
                    if code in read_codes(comp.get("code"), LOINC):
                        candidates.append((d, o, comp.get("valueQuantity")))
            candidates.sort(key=lambda t: t[0], reverse=True)
        for day, o, q in candidates:
            if not isinstance(q, Mapping):
                continue
            value = read_number(q.get("value"))
            converted = None if value is None else convert(value, unit_of(q))
            if converted is None:
                b.out.ignored.append(f"{reference_of(o)}: {code} unit not understood")
                continue
            converted = round(converted, 2)
            b.put(path, converted, day, reference_of(o), f"{converted:g} ({unit_of(q)})")
            break
    stages = [t for c in STAGE_CODES for t in _newest(by_code.get(c, []), b.as_of)]
    for day, o in sorted(stages, key=lambda t: t[0], reverse=True):
        stage = _stage(o)
        if stage is not None:
            b.put("stage", stage, day, reference_of(o), f"stage {stage}")
            break
    for day, o in _newest(by_code.get(ECOG_CODE, []), b.as_of):
        ecog = _ecog(o)
        if ecog is not None:
            b.put("ecog", ecog, day, reference_of(o), str(ecog))
            break
    _map_symptom_scores(b, observations, site_codes)


def _map_symptom_scores(
    b: Builder, observations: list[Mapping[str, Any]], site_codes: Sequence[tuple[str, str, str]]
) -> None:
    """Per symptom, the newest 0-10 score of the last SYMPTOM_DAYS days under any of its codes
    (LOINC pain, the site's own codes)."""
    sources = {(system, code): path for system, code, path in SYMPTOM_SCORES}
    for system, code, symptom in site_codes:
        sources.setdefault((system, code), f"symptoms.{symptom}")
    found: dict[str, dict[int, tuple[str, Mapping[str, Any]]]] = {}
    for o in observations:
        for c in read_codings(o.get("code")):
            key = (c.get("system"), str(c.get("code")))
            if key in sources:
                found.setdefault(sources[key], {})[id(o)] = (key[1], o)
    for path, by_id in found.items():
        for day, o in _newest([o for _, o in by_id.values()], b.as_of):
            code = by_id[id(o)][0]
            score = _score(o)
            if score is None:
                b.out.ignored.append(f"{reference_of(o)}: {code} is not a 0-10 score")
                continue
            if (b.as_of - day).days >= SYMPTOM_DAYS:
                b.out.ignored.append(f"{reference_of(o)}: {code} older than {SYMPTOM_DAYS} days")
                break
            b.put(path, score, day, reference_of(o), f"{score:g}/10")
            break


def _score(o: Mapping[str, Any]) -> float | None:
    """A 0-10 score from valueInteger or valueQuantity (unit empty or {score}); else None."""
    if isinstance(o.get("valueInteger"), int) and not isinstance(o.get("valueInteger"), bool):
        value: float | None = float(o["valueInteger"])
    elif isinstance(o.get("valueQuantity"), Mapping):
        q = o["valueQuantity"]
        value = read_number(q.get("value")) if unit_of(q) in ("", "{score}", "score", "1") else None
    else:
        value = None
    return value if value is not None and 0 <= value <= 10 else None


def _is_activity_type(o: Mapping[str, Any]) -> bool:
    return ACTIVITY_CODE in read_codes(o.get("code"), LOINC)


def is_resistance(activity: Any) -> bool:
    """Resistance training, by the activity type's text (strength, weights, resistance)."""
    text = " ".join(
        read_texts(activity) + [str(c.get("code")) for c in read_codings(activity)]
    ).lower()
    return any(k in text for k in ("resist", "strength", "weight", "muscle"))


def borg_rpe(value: float, unit: str) -> int | None:
    """Perceived exertion as Borg 6-20 (see the module docstring for the scale rule)."""
    u = unit.lower()
    if "6-20" in u or ("cr10" not in u and value > 10):
        return round(value) if 6 <= value <= 20 else None
    if not 0 <= value <= 10:
        return None
    table = BORG_CR10_TO_RPE
    for (x0, y0), (x1, y1) in itertools.pairwise(table):
        if x0 <= value <= x1:
            return round(y0 + (y1 - y0) * (value - x0) / (x1 - x0))
    return None


def _measures(o: Mapping[str, Any], members: list[Mapping[str, Any]]) -> dict[str, Any]:
    """LOINC code -> value of the session's measures: components first, then member observations."""
    out: dict[str, Any] = {}
    for comp in o.get("component") or []:
        for code in read_codes(comp.get("code"), LOINC):
            out.setdefault(code, comp)
    for m in members:
        for code in read_codes(m.get("code"), LOINC):
            out.setdefault(code, m)
    return out


def _minutes(q: Any) -> float | None:
    if not isinstance(q, Mapping):
        return None
    v = read_number(q.get("value"))
    if v is None:
        return None
    return {"min": v, "h": v * 60, "s": v / 60}.get(unit_of(q))


def map_sessions(b: Builder, activity: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_id = {f"Observation/{o.get('id')}": o for o in activity if o.get("id")}
    member_ids = {
        str(ref.get("reference"))
        for o in activity
        for ref in o.get("hasMember") or []
        if isinstance(ref, Mapping)
    }
    sessions = []
    for o in activity:
        if o.get("status") in OBS_BAD_STATUS:
            continue
        is_panel = PA_PANEL_CODE in [c.get("code") for c in read_codings(o.get("code"))]
        if not (is_panel or (_is_activity_type(o) and reference_of(o) not in member_ids)):
            continue
        day = read_when(o, "effective")
        if day is None or day >= b.as_of:
            continue
        members = [
            by_id[str(r.get("reference"))]
            for r in o.get("hasMember") or []
            if str(r.get("reference")) in by_id
        ]
        measures = _measures(o, members)
        kind = o.get("valueCodeableConcept")
        if is_panel:
            kind = next(
                (m.get("valueCodeableConcept") for m in members if _is_activity_type(m)), None
            )
        minutes = _minutes((measures.get(DURATION_CODE) or {}).get("valueQuantity"))
        if minutes is None or not 1 <= minutes <= 180:
            b.out.ignored.append(f"{reference_of(o)}: session without a usable duration")
            continue
        session: dict[str, Any] = {
            "date": day.isoformat(),
            "modality": "resistance" if is_resistance(kind) else "aerobic",
            "planned_minutes": round(minutes, 1),
            "attended": True,
            "completed_minutes": round(minutes, 1),
        }
        hr_q = (measures.get(MEAN_HR_CODE) or {}).get("valueQuantity")
        hr = read_number(hr_q.get("value")) if isinstance(hr_q, Mapping) else None
        if hr is not None and 30 <= hr <= 250:
            session["avg_hr"] = round(hr)
        rpe_src = measures.get(RPE_CODE) or {}
        rpe_q = rpe_src.get("valueQuantity")
        rpe_v = (
            read_number(rpe_q.get("value"))
            if isinstance(rpe_q, Mapping)
            else read_number(rpe_src.get("valueInteger"))
        )
        if rpe_v is not None:
            rpe = borg_rpe(rpe_v, unit_of(rpe_q) if isinstance(rpe_q, Mapping) else "")
            if rpe is not None:
                session["rpe"] = rpe
        sessions.append(session)
    sessions.sort(key=lambda s: s["date"])
    return sessions[-MAX_SESSIONS_PER_REQUEST:]
