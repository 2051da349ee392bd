"""Small readers of FHIR JSON: codings and codes of a concept, dates, profiles, references and
numbers, each tolerant of a malformed value (it reads as absent)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any


# --- small readers -----------------------------------------------------------------------------
def read_codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def read_codes(concept: Any, system: str) -> list[str]:
    return [str(c.get("code")) for c in read_codings(concept) if c.get("system") == system]


def read_texts(concept: Any) -> list[str]:
    out = [str(c.get("display")) for c in read_codings(concept) if c.get("display")]
    if isinstance(concept, Mapping) and concept.get("text"):
        out.append(str(concept["text"]))
    return out


def read_icd10(concept: Any) -> list[str]:
    return [
        str(c.get("code")).upper()
        for c in read_codings(concept)
        if "icd-10" in str(c.get("system", "")).lower() and c.get("code")
    ]


def in_ranges(code: str, ranges: Iterable[tuple[tuple[str, str], str]]) -> str | None:
    for (lo, hi), label in ranges:
        head = code[: len(lo)]
        if lo <= head <= hi:
            return label
    return None


def read_date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def read_when(res: Mapping[str, Any], prefix: str) -> dt.date | None:
    """Date of an event: `<prefix>DateTime`, else the start of `<prefix>Period` (end if none)."""
    day = read_date(res.get(f"{prefix}DateTime"))
    if day is None and isinstance(res.get(f"{prefix}Period"), Mapping):
        period = res[f"{prefix}Period"]
        day = read_date(period.get("start")) or read_date(period.get("end"))
    if day is None and prefix == "effective":
        day = read_date(res.get("issued"))
    return day


def _profiles(res: Mapping[str, Any]) -> list[str]:
    meta = res.get("meta")
    return [str(p) for p in (meta.get("profile") or [])] if isinstance(meta, Mapping) else []


def has_profile(res: Mapping[str, Any], name: str) -> bool:
    return any(p.rstrip("/").endswith(name) for p in _profiles(res))


def reference_of(res: Mapping[str, Any]) -> str:
    return f"{res.get('resourceType')}/{res.get('id', '?')}"


def read_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


OBS_BAD_STATUS = {"entered-in-error", "cancelled"}
