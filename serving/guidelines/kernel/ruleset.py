"""The compiled rule file: the rule records (`FiredRule`, `Rule`, `RuleSet`), the validation of the
file's structure (kinds, order hold -> refer -> others, required global bounds) and loading
`rules.yaml`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from features.contract.vocab import (
    RESTRICTIONS,
)
from serving.guidelines.envelope import (
    ENVELOPE_FIELDS,
    INTEGER_FIELDS,
)
from serving.guidelines.kernel.conditions import Compiler, RuleFileError
from serving.guidelines.kernel.facts import (
    DERIVED_FACTS,
    DOSE_SOURCES,
    LIST_FIELDS,
    Check,
    Value,
    converter_for,
)

RULES_FILE = Path(__file__).parents[1] / "rules.yaml"
KINDS = ("hold", "refer", "cap", "restriction", "progression")


@dataclass(frozen=True, slots=True)
class FiredRule:
    """A rule whose condition held, as reported in responses and the audit trail."""

    id: str
    kind: str
    effect: str
    citation: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind, "effect": self.effect, "citation": self.citation}


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule of the file."""

    fired: FiredRule
    check: Check
    restrictions: tuple[str, ...]
    # (envelope field, value function, is a maximum, is a whole number)
    limits: tuple[tuple[str, Value, bool, bool], ...]
    source: Mapping[str, Any]
    unknown: tuple[str, ...] = ()  # facts this rule acts on because they are not known

    @property
    def id(self) -> str:
        return self.fired.id

    @property
    def kind(self) -> str:
        return self.fired.kind


@dataclass(frozen=True)
class RuleSet:
    """The compiled rule file: holds, refers and the envelope-shaping rules, in file order."""

    version: str
    rules: tuple[Rule, ...]
    fields: tuple[str, ...]  # facts the rules read, normalised once per evaluation
    path: str = ""

    @property
    def converters(self) -> tuple[tuple[str, Any], ...]:
        """(fact, its normaliser) for every fact the rules read, looked up once per rule set."""
        found = self.__dict__.get("_converters")
        if found is None:
            found = tuple((name, converter_for(name)) for name in self.fields)
            object.__setattr__(self, "_converters", found)  # a cache, not a field
        return found

    @property
    def holds(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.kind == "hold")

    @property
    def refers(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.kind == "refer")

    @property
    def shaping(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.kind not in ("hold", "refer"))

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


_LIMIT_FIELDS = frozenset(ENVELOPE_FIELDS)
_RULE_KEYS = frozenset(
    {"id", "kind", "condition", "effect", "citation", "limits", "restrictions", "unknown"}
)
# Every bound the always-on global rules must set (the progression bounds may stay unlimited).
_GLOBAL_REQUIRED = _LIMIT_FIELDS - {
    "aerobic_weekly_volume_max",
    "resistance_pct_1rm_progression_max",
    "resistance_allowed",
}


def compile_rules(data: Mapping[str, Any], path: str = "") -> RuleSet:
    """Validate and compile a parsed rule file; every mistake is a RuleFileError."""
    if not isinstance(data, Mapping):
        raise RuleFileError("the rule file must be a mapping with version, definitions, rules")
    unknown = set(data) - {"version", "definitions", "rules"}
    if unknown:
        raise RuleFileError(f"unknown top-level keys {sorted(unknown)}")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise RuleFileError("version: must be a non-empty string")
    comp = Compiler()
    for name, node in (data.get("definitions") or {}).items():
        comp.definitions[name] = comp.condition(node, f"definition {name}")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleFileError("rules: must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    order = {"hold": 0, "refer": 1}
    last_order = 0
    for i, raw in enumerate(raw_rules):
        where = f"rule {i}"
        if not isinstance(raw, Mapping):
            raise RuleFileError(f"{where}: must be a mapping")
        rid = raw.get("id")
        if not isinstance(rid, str) or not rid:
            raise RuleFileError(f"{where}: id must be a non-empty string")
        where = f"rule {rid}"
        if rid in seen:
            raise RuleFileError(f"{where}: duplicate id")
        seen.add(rid)
        extra = set(raw) - _RULE_KEYS
        if extra:
            raise RuleFileError(f"{where}: unknown keys {sorted(extra)}")
        kind = raw.get("kind")
        if kind not in KINDS:
            raise RuleFileError(f"{where}: kind must be one of {KINDS}, not {kind!r}")
        if raw.get("unknown") and kind in ("hold", "refer"):
            raise RuleFileError(f"{where}: a {kind} rule has no unknown list")
        rank = order.get(kind, 2)
        if rank < last_order:
            raise RuleFileError(f"{where}: hold rules come first, then refer, then the others")
        last_order = rank
        for key in ("effect", "citation"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise RuleFileError(f"{where}: {key} must be a non-empty text")
        if "condition" not in raw:
            raise RuleFileError(f"{where}: condition is required")
        check = comp.condition(raw["condition"], where)
        restrictions = raw.get("restrictions") or []
        limits = raw.get("limits") or {}
        if kind in ("hold", "refer") and (restrictions or limits):
            raise RuleFileError(f"{where}: a {kind} rule has no limits or restrictions")
        if kind not in ("hold", "refer") and not (restrictions or limits):
            raise RuleFileError(f"{where}: a {kind} rule needs limits or restrictions")
        if not isinstance(restrictions, list) or any(x not in RESTRICTIONS for x in restrictions):
            raise RuleFileError(f"{where}: restrictions must come from {RESTRICTIONS}")
        if not isinstance(limits, Mapping):
            raise RuleFileError(f"{where}: limits must be a mapping")
        compiled_limits = []
        for name, node in limits.items():
            if name not in _LIMIT_FIELDS:
                raise RuleFileError(f"{where}: unknown limit {name!r}")
            is_max = not name.endswith("_min")
            compiled_limits.append(
                (name, comp.value(node, name, where), is_max, name in INTEGER_FIELDS)
            )
        unknown = raw.get("unknown") or []
        if not isinstance(unknown, list) or any(not isinstance(x, str) for x in unknown):
            raise RuleFileError(f"{where}: unknown must be a list of fact names")
        for name in unknown:
            comp.known(name, where)
            if name in LIST_FIELDS or name in DERIVED_FACTS:
                raise RuleFileError(f"{where}: unknown: {name!r} is not a single fact")
        fired = FiredRule(
            rid, kind, " ".join(raw["effect"].split()), " ".join(raw["citation"].split())
        )
        rules.append(
            Rule(
                fired,
                check,
                tuple(restrictions),
                tuple(compiled_limits),
                dict(raw),
                tuple(unknown),
            )
        )
    covered = {
        name
        for r in rules
        if r.source.get("condition") == {"always": True}
        for name, *_ in r.limits
    }
    if _GLOBAL_REQUIRED - covered:
        missing = sorted(_GLOBAL_REQUIRED - covered)
        raise RuleFileError(f"the always-on rules must set every bound; missing {missing}")
    read = (comp.fields - DERIVED_FACTS) | {"rx_aerobic_sessions", "rx_aerobic_minutes"}
    read |= set(DOSE_SOURCES)  # the dose facts are derived from these (facts.dose_facts)
    return RuleSet(version, tuple(rules), tuple(sorted(read)), path)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and compile a rule file (default: `serving/guidelines/rules.yaml`)."""
    path = Path(path) if path is not None else RULES_FILE
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return compile_rules(data, str(path))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    return load_rules()
