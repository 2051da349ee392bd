"""Observations: stage, ECOG, labs, vitals, height and weight (the newest value on or before
`as_of`, converted to the contract's units)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from serving.cds.fhir_map.code_tables import (
    BP_PANEL,
    ECOG_ANSWERS,
    ECOG_CODE,
    LOINC,
    QUANTITIES,
    STAGE_CODES,
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


def map_observations(b: Builder, observations: list[Mapping[str, Any]]) -> None:
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
