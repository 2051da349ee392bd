"""The mapping's result (`Mapped`, with the `Fact`s used and what is missing or ignored) and the
builder that fills the contract's patient object field by field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from features.contract.rest import RecommendRequest
from serving.cds.fhir_map.code_tables import REQUIRED_FIELDS


# --- result ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    """One fact used, with where and when it came from (for the card's detail)."""

    field: str
    value: str
    date: str | None
    source: str


@dataclass
class Mapped:
    """The mapping's result: the request (None when required facts are missing) and its story."""

    request: RecommendRequest | None
    facts: list[Fact] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # contract fields the record lacks
    ignored: list[str] = field(default_factory=list)  # resources / values that could not be used
    cancer_condition: str | None = None  # "Condition/<id>" of the primary cancer
    sessions_used: int = 0
    # the active exercise order read per modality as the current dose (serving.cds.current)
    current_orders: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def missing_required(self) -> list[str]:
        return [f for f in self.missing if f in REQUIRED_FIELDS]


class Builder:
    def __init__(self, as_of: dt.date) -> None:
        self.as_of = as_of
        self.out = Mapped(request=None)
        self.patient: dict[str, Any] = {}

    def put(self, path: str, value: Any, date: dt.date | None, source: str, shown: str) -> None:
        target = self.patient
        parts = path.split(".")
        for p in parts[:-1]:
            target = target.setdefault(p, {})
        target[parts[-1]] = value
        self.out.facts.append(Fact(path, shown, date.isoformat() if date else None, source))

    def has(self, path: str) -> bool:
        target: Any = self.patient
        for p in path.split("."):
            if not isinstance(target, Mapping) or p not in target:
                return False
            target = target[p]
        return True
