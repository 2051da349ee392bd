"""The guideline safety kernel: hold / refer / allowed, and the envelope of allowed doses.

The rules are data (`rules.yaml`, versioned, one entry per rule with its citation); this module only
reads them, turns each condition into a small function (no `eval` of any text), and applies them in
order: hold -> refer -> caps, restrictions and progression, the most restrictive value winning.

Why it looks like this:
- It must be readable and testable by a clinician, so the clinical content lives in the YAML file
  and the code knows nothing about platelets or metastases.
- It is the last line of defence, so it depends only on the data contract (`features.contract`),
  the standard library and PyYAML, and `check_prescription` / `clamp_prescription` can gate any
  prescription from any source.
- It runs for every patient of every batch, so conditions are compiled once and evaluation is a
  few dozen function calls (tens of microseconds).

Missing facts (None, NaN, pandas NA) are "not known": a comparison with an unknown value is false,
so an unknown value never triggers a hold or a cap by itself. Rules that grant something (vigorous
intensity, heavier loads) are written as "cap unless <all the favourable facts are known>", so an
unknown value never loosens anything either. Where an unknown value could hide a reason to hold or
cap (a lab during chemotherapy), the rule file says so explicitly with a `{missing: fact}` rule
that applies the most restrictive band that still allows exercise; such a rule lists the fact
under `unknown:` and the result names it in `unknown_facts` (so the clinician sees why the dose is
conservative).

Closed-modality labels (`no_aerobic`, `no_resistance`, `no_vigorous`) are a function of the FINAL
envelope: they are present exactly when the envelope closes that modality or every vigorous dose,
whichever rule closed it (`closure_labels`), and their meaning rules then apply too (see
`evaluate`). So the response, the audit trail and the envelope never disagree.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from features.contract.convert import patient_to_row, prescription_to_row
from features.contract.rest import (
    AerobicDose,
    IntRange,
    Patient,
    Prescription,
    Range,
    ResistanceDose,
)
from features.contract.tables import RX_COLUMNS
from features.contract.vocab import (
    BONE_FRACTURE_RISKS,
    CANCER_TYPES,
    COMORBIDITIES,
    LIST_SEPARATOR,
    METASTATIC_SITES,
    RESISTANCE_EXPERIENCE,
    RESTRICTIONS,
    SEXES,
    STAGES,
    TREATMENT_PHASES,
)
from features.registry import KERNEL_HISTORY_FACTS
from serving.guidelines.envelope import (
    AEROBIC_FIELDS,
    EMPTY,
    ENVELOPE_FIELDS,
    INTEGER_FIELDS,
    RESISTANCE_FIELDS,
    RPE_SCALE_MIN,
    VIGOROUS_PCT_1RM,
    VIGOROUS_PCT_HRMAX,
    Envelope,
)

RULES_FILE = Path(__file__).with_name("rules.yaml")
KINDS = ("hold", "refer", "cap", "restriction", "progression")
DECISIONS = ("allowed", "refer", "hold")  # from least to most restrictive
# History facts the rules read: `features.history` column names (the policy takes them from the
# feature rows). The all-session ones are kept for callers that only know those; the rules use a
# per-modality fact when it is known and fall back to the all-session one when it is not.
# Declared (name, unit, meaning) in features/registry.py with `kernel=True`.
HISTORY_FACTS = KERNEL_HISTORY_FACTS
# Labels derived from the final envelope (see the module docstring).
CLOSURE_LABELS = ("no_aerobic", "no_resistance", "no_vigorous")
# Relative tolerance of check_prescription, so float noise (1.1 x 30 = 33.000000000000004) is not
# reported as a violation. Far below any clinically meaningful difference.
TOLERANCE = 1e-9

Facts = dict[str, Any]
Limits = dict[str, float]
Check = Callable[[Facts, set[str], Limits], bool]
Value = Callable[[Facts], float | None]


class RuleFileError(ValueError):
    """The rule file is malformed; the message names the rule and the problem."""


# --------------------------------------------------------------------------------------------
# facts: types and normalisation
# --------------------------------------------------------------------------------------------
_NUMBER_FIELDS = frozenset(
    {
        "age",
        "height_cm",
        "weight_kg",
        "days_since_infusion",
        "ecog",
        "resting_hr",
        "systolic_bp",
        "diastolic_bp",
        "spo2",
        "temperature_c",
        "hemoglobin_g_dl",
        "platelets_10e9_l",
        "anc_10e9_l",
        "fatigue",
        "pain",
        "vo2peak_ml_kg_min",
        "six_minute_walk_m",
        "grip_strength_kg",
        "next_infusion_in_days",
        "recent_surgery_days",
        "lvef_pct",
        "glucose_mg_dl",
        *HISTORY_FACTS,
        *(c for c in RX_COLUMNS if c != "rx_restrictions"),
        "rx_aerobic_volume",  # derived: current aerobic minutes x sessions
    }
)
_BOOL_FIELDS = frozenset(
    {
        "medical_clearance",
        "sarcopenia",
        "vomiting_24h",
        "cardiotoxic_therapy",
        "neurological_symptoms",
    }
)
_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "sex": SEXES,
    "cancer_type": CANCER_TYPES,
    "stage": STAGES,
    "treatment_phase": TREATMENT_PHASES,
    "resistance_experience": RESISTANCE_EXPERIENCE,
    "bone_fracture_risk": BONE_FRACTURE_RISKS,
}
_LIST_FIELDS: dict[str, tuple[str, ...]] = {
    "metastatic_sites": METASTATIC_SITES,
    "comorbidities": COMORBIDITIES,
    "rx_restrictions": RESTRICTIONS,
    "restrictions": RESTRICTIONS,  # derived, live: imposed by the rules above the one reading it
}
_DERIVED = frozenset({"rx_aerobic_volume", "restrictions"})


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas NA, arrays
        return True


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out


_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    num = _number(value)
    return None if num is None else num != 0


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None if _is_missing(value) else str(value)


def _items(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(x.strip() for x in value.split(LIST_SEPARATOR) if x.strip())
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(x).strip() for x in value if not _is_missing(x))
    return frozenset()


def _converter(name: str) -> Callable[[Any], Any]:
    if name in _NUMBER_FIELDS:
        return _number
    if name in _BOOL_FIELDS:
        return _bool
    if name in _TEXT_FIELDS:
        return _text
    return _items


# --------------------------------------------------------------------------------------------
# rule compilation (YAML -> small functions; nothing is eval'ed)
# --------------------------------------------------------------------------------------------
_COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _always(f: Facts, r: set[str], lim: Limits) -> bool:
    return True


def _aerobic_infeasible(f: Facts, r: set[str], lim: Limits) -> bool:
    """Aerobic is still allowed, but not even one session at the minimum dose fits."""
    if lim["aerobic_sessions_max"] < 1:
        return False
    return (
        lim["aerobic_pct_hrmax_max"] < lim["aerobic_pct_hrmax_min"]
        or lim["aerobic_minutes_max"] < lim["aerobic_minutes_min"]
        or lim["aerobic_weekly_volume_max"] < lim["aerobic_minutes_min"]
        or lim["weekly_modeq_minutes_max"] < lim["aerobic_minutes_min"]
        or lim["total_sessions_max"] < 1
    )


def _resistance_infeasible(f: Facts, r: set[str], lim: Limits) -> bool:
    """Resistance is still allowed, but not even one session at the minimum dose fits."""
    if lim["resistance_allowed"] < 1 or lim["resistance_sessions_max"] < 1:
        return False
    return (
        lim["resistance_pct_1rm_max"] < lim["resistance_pct_1rm_min"]
        or lim["resistance_sets_max"] < lim["resistance_sets_min"]
        or lim["resistance_reps_max"] < lim["resistance_reps_min"]
        or lim["total_sessions_max"] < 1
    )


class _Compiler:
    """Turns condition trees into functions, checking every field, operator and vocabulary word."""

    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.definitions: dict[str, Check] = {}

    def fail(self, where: str, msg: str) -> RuleFileError:
        return RuleFileError(f"{where}: {msg}")

    def condition(self, node: Any, where: str) -> Check:
        if isinstance(node, list):
            return self.comparison(node, where)
        if not isinstance(node, dict) or len(node) != 1:
            raise self.fail(
                where, f"a condition is [field, op, value] or a one-key mapping: {node!r}"
            )
        ((key, arg),) = node.items()
        if key in ("all", "any"):
            if not isinstance(arg, list) or not arg:
                raise self.fail(where, f"{key}: needs a non-empty list")
            parts = tuple(self.condition(x, where) for x in arg)
            if len(parts) == 1:
                return parts[0]
            return self._all(parts) if key == "all" else self._any(parts)
        if key == "not":
            inner = self.condition(arg, where)
            return lambda f, r, lim: not inner(f, r, lim)
        if key == "always":
            if arg is not True:
                raise self.fail(where, "always: must be true")
            return _always
        if key == "ref":
            if arg not in self.definitions:
                raise self.fail(where, f"unknown definition {arg!r} (define it before use)")
            return self.definitions[arg]
        if key == "infeasible":
            if arg == "aerobic":
                return _aerobic_infeasible
            if arg == "resistance":
                return _resistance_infeasible
            raise self.fail(where, f"infeasible: aerobic or resistance, not {arg!r}")
        if key == "missing":
            self.known(arg, where)
            if arg in _LIST_FIELDS:
                raise self.fail(where, f"use empty: for the list {arg!r}")
            return lambda f, r, lim: f[arg] is None
        if key in ("empty", "nonempty"):
            self.list_field(arg, where)
            want_items = key == "nonempty"
            if arg == "restrictions":
                return lambda f, r, lim: bool(r) is want_items
            return lambda f, r, lim: bool(f[arg]) is want_items
        if key == "has":
            if not isinstance(arg, list) or len(arg) != 2:
                raise self.fail(where, "has: needs [list_field, item]")
            name, item = arg
            vocab = self.list_field(name, where)
            if item not in vocab:
                raise self.fail(where, f"{item!r} is not a value of {name}")
            if name == "restrictions":
                return lambda f, r, lim: item in r
            return lambda f, r, lim: item in f[name]
        raise self.fail(where, f"unknown condition {key!r}")

    @staticmethod
    def _all(parts: tuple[Check, ...]) -> Check:
        def check(f: Facts, r: set[str], lim: Limits) -> bool:
            for part in parts:  # noqa: SIM110  (a plain loop is faster than all() here)
                if not part(f, r, lim):
                    return False
            return True

        return check

    @staticmethod
    def _any(parts: tuple[Check, ...]) -> Check:
        def check(f: Facts, r: set[str], lim: Limits) -> bool:
            for part in parts:  # noqa: SIM110  (a plain loop is faster than any() here)
                if part(f, r, lim):
                    return True
            return False

        return check

    def known(self, name: Any, where: str) -> str:
        if not isinstance(name, str) or not (
            name in _NUMBER_FIELDS
            or name in _BOOL_FIELDS
            or name in _TEXT_FIELDS
            or name in _LIST_FIELDS
        ):
            raise self.fail(where, f"unknown fact {name!r}")
        if name != "restrictions":
            self.fields.add(name)
        return name

    def list_field(self, name: Any, where: str) -> tuple[str, ...]:
        self.known(name, where)
        if name not in _LIST_FIELDS:
            raise self.fail(where, f"{name!r} is not a list fact")
        return _LIST_FIELDS[name]

    def comparison(self, node: list, where: str) -> Check:
        if len(node) != 3:
            raise self.fail(where, f"a comparison is [field, op, value]: {node!r}")
        name, op, value = node
        self.known(name, where)
        if name in _NUMBER_FIELDS:
            if op not in _COMPARE or isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(where, f"{name} needs a numeric comparison: {node!r}")
            fn, threshold = _COMPARE[op], float(value)
            return lambda f, r, lim: (x := f[name]) is not None and fn(x, threshold)
        if name in _BOOL_FIELDS:
            if op not in ("==", "!=") or not isinstance(value, bool):
                raise self.fail(where, f"{name} is yes/no: use == true or == false: {node!r}")
            want = value if op == "==" else not value
            return lambda f, r, lim: f[name] is want
        if name in _TEXT_FIELDS:
            vocab = _TEXT_FIELDS[name]
            values = value if op in ("in", "not_in") else [value]
            if op not in ("==", "!=", "in", "not_in") or not isinstance(values, list):
                raise self.fail(where, f"{name} is a category: use == != in not_in: {node!r}")
            for v in values:
                if v not in vocab:
                    raise self.fail(where, f"{v!r} is not a value of {name} {vocab}")
            allowed = frozenset(values)
            inside = op in ("==", "in")
            return lambda f, r, lim: (x := f[name]) is not None and (x in allowed) is inside
        raise self.fail(where, f"{name} is a list: use has/empty/nonempty: {node!r}")

    def value(self, node: Any, name: str, where: str) -> Value:
        """A limit value: a number, or a multiple of a current-prescription fact."""
        if name == "resistance_allowed":
            if node is not False:
                raise self.fail(where, "resistance_allowed can only be set to false")
            return lambda f: 0.0
        if isinstance(node, int | float) and not isinstance(node, bool):
            if node < 0:
                raise self.fail(where, f"{name}: limits are never negative")
            constant = float(node)
            return lambda f: constant
        if isinstance(node, dict) and set(node) == {"current", "times", "without_current"}:
            src, times, without = node["current"], node["times"], node["without_current"]
            self.known(src, where)
            if not (src.startswith("rx_") and src in _NUMBER_FIELDS):
                raise self.fail(where, f"current: must name a numeric rx_* fact, not {src!r}")
            if isinstance(times, bool) or not isinstance(times, int | float) or times < 0:
                raise self.fail(where, f"times: must be a non-negative number, not {times!r}")
            if without == "no_limit":
                fallback: float | None = None
            elif without == 0 and not isinstance(without, bool):
                fallback = 0.0
            else:
                raise self.fail(where, "without_current: must be 0 or no_limit")
            factor = float(times)

            def current(f: Facts) -> float | None:
                x = f[src]
                # rounding keeps 1.1 x 30 at 33, not 33.000000000000004
                return fallback if x is None else round(max(x, 0.0) * factor, 6)

            return current
        raise self.fail(
            where, f"{name}: a limit is a number or {{current, times, without_current}}"
        )


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
    comp = _Compiler()
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
            if name in _LIST_FIELDS or name in _DERIVED:
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
    read = (comp.fields - _DERIVED) | {"rx_aerobic_sessions", "rx_aerobic_minutes"}
    return RuleSet(version, tuple(rules), tuple(sorted(read)), path)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and compile a rule file (default: the `rules.yaml` next to this module)."""
    path = Path(path) if path is not None else RULES_FILE
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return compile_rules(data, str(path))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    return load_rules()


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KernelResult:
    """The kernel's verdict: decision, envelope, required restrictions, and the rules that fired.

    `limited_by` names, for each envelope bound a rule tightened, the rule that set its final value
    (useful to explain "why at most 63% HRmax?").
    """

    decision: str  # "hold" | "refer" | "allowed"
    envelope: Envelope
    restrictions: tuple[str, ...]
    fired: tuple[FiredRule, ...]
    version: str
    limited_by: Mapping[str, str] = field(default_factory=dict)
    # facts whose absence made the envelope tighter (rules with an `unknown:` list that fired)
    unknown_facts: tuple[str, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.fired)

    @property
    def allows_dose(self) -> bool:
        return self.decision == "allowed" and not self.envelope.is_empty


def normalize_facts(facts: Mapping[str, Any], rules: RuleSet | None = None) -> Facts:
    """The facts the rules read, converted once: numbers to float, yes/no to bool, lists to sets,
    and anything missing (None, NaN, pandas NA, blank) to None (an empty set for lists)."""
    rs = rules or default_rules()
    get = facts.get
    f: Facts = {name: _converter(name)(get(name)) for name in rs.fields}
    sessions, minutes = _number(get("rx_aerobic_sessions")), _number(get("rx_aerobic_minutes"))
    f["rx_aerobic_volume"] = None if sessions is None or minutes is None else sessions * minutes
    return f


_INITIAL: Limits = {
    name: (0.0 if name.endswith("_min") else 1.0 if name == "resistance_allowed" else math.inf)
    for name in ENVELOPE_FIELDS
}


def closure_labels(env: Envelope) -> frozenset[str]:
    """The closed-modality labels of an envelope: `no_aerobic` / `no_resistance` when the modality
    is closed, `no_vigorous` when no vigorous dose of either modality fits (aerobic below 77% HRmax,
    resistance below 70% 1RM, or closed)."""
    out = set()
    if not env.aerobic_allowed:
        out.add("no_aerobic")
    if not env.resistance_allowed:
        out.add("no_resistance")
    vigorous_aerobic = env.aerobic_allowed and env.aerobic_pct_hrmax_max >= VIGOROUS_PCT_HRMAX
    vigorous_resistance = env.resistance_allowed and env.resistance_pct_1rm_max >= VIGOROUS_PCT_1RM
    if not (vigorous_aerobic or vigorous_resistance):
        out.add("no_vigorous")
    return frozenset(out)


def evaluate(facts: Mapping[str, Any], rules: RuleSet | None = None) -> KernelResult:
    """Apply the rule file to one patient's facts (patients-table columns, rx_*, history facts).

    Hold rules first (any -> "hold"), then refer rules (any -> "refer"); both list every hold and
    refer rule that fired and give the empty envelope. Otherwise every other rule is applied top to
    bottom and the envelope is what remains.

    Closed-modality labels: when the envelope closes a modality (or every vigorous dose) without
    the label having been imposed by a rule, the label is added and the rules are applied again
    with it already imposed, so the label's meaning rules (`restriction.no_vigorous`, ...) and
    every rule reading `restrictions` see it. Labels only tighten the envelope, so this reaches a
    fixed point within len(CLOSURE_LABELS) extra passes; the result's labels are then exactly the
    closure of its envelope plus the other restrictions the rules imposed.
    """
    rs = rules or default_rules()
    f = normalize_facts(facts, rs)
    imposed: set[str] = set()
    lim: Limits = dict(_INITIAL)  # what hold / refer conditions see (nothing is limited yet)
    stops: list[FiredRule] = []
    n_hold = 0
    i = 0
    rule_list = rs.rules
    n = len(rule_list)
    while i < n and rule_list[i].fired.kind in ("hold", "refer"):
        rule = rule_list[i]
        if rule.check(f, imposed, lim):
            stops.append(rule.fired)
            n_hold += rule.fired.kind == "hold"
        i += 1
    if stops:
        decision = "hold" if n_hold else "refer"
        return KernelResult(decision, EMPTY, (), tuple(stops), rs.version)
    shaping = rule_list[i:]
    derived: frozenset[str] = frozenset()
    for _ in range(len(CLOSURE_LABELS) + 1):
        imposed, lim, fired, limited_by, unknown = _shape(shaping, f, derived)
        env = _envelope(lim)
        closed = closure_labels(env)
        if closed <= imposed:
            break
        derived = derived | closed
    return KernelResult(
        "allowed",
        env,
        tuple(sorted(imposed | closed)),
        tuple(fired),
        rs.version,
        limited_by,
        tuple(sorted(unknown)),
    )


def _shape(
    shaping: tuple[Rule, ...], f: Facts, derived: frozenset[str]
) -> tuple[set[str], Limits, list[FiredRule], dict[str, str], set[str]]:
    """One pass of the envelope-shaping rules, top to bottom, with `derived` labels imposed."""
    imposed: set[str] = set(derived)
    lim: Limits = dict(_INITIAL)
    fired: list[FiredRule] = []
    limited_by: dict[str, str] = {}
    unknown: set[str] = set()
    for rule in shaping:
        if not rule.check(f, imposed, lim):
            continue
        fired.append(rule.fired)
        imposed.update(rule.restrictions)
        unknown.update(rule.unknown)
        for name, value_fn, is_max, whole in rule.limits:
            value = value_fn(f)
            if value is None:
                continue
            if whole:
                value = float(math.floor(value + 1e-9) if is_max else math.ceil(value - 1e-9))
            if (value < lim[name]) if is_max else (value > lim[name]):
                lim[name] = value
                limited_by[name] = rule.fired.id
    return imposed, lim, fired, limited_by, unknown


_AEROBIC_ZERO = dict.fromkeys(AEROBIC_FIELDS, 0)
_RESISTANCE_ZERO = dict.fromkeys(RESISTANCE_FIELDS, 0)


def _envelope(lim: Limits) -> Envelope:
    """Final limits -> Envelope. A modality with no feasible session is closed (all its bounds 0)
    here too, as a last resort should the rule file lack its conflict rule."""
    values: dict[str, Any] = dict(lim)
    aerobic_open = lim["aerobic_sessions_max"] >= 1 and not _aerobic_infeasible({}, set(), lim)
    resistance_open = (
        lim["resistance_allowed"] >= 1
        and lim["resistance_sessions_max"] >= 1
        and not _resistance_infeasible({}, set(), lim)
    )
    if not aerobic_open:
        values.update(_AEROBIC_ZERO)
    if not resistance_open:
        values.update(_RESISTANCE_ZERO)
    values["total_sessions_max"] = min(
        lim["total_sessions_max"],
        values["aerobic_sessions_max"] + values["resistance_sessions_max"],
    )
    if not (aerobic_open or resistance_open):
        values["weekly_modeq_minutes_max"] = 0
    for name in INTEGER_FIELDS:
        values[name] = int(values[name])
    values["resistance_allowed"] = resistance_open
    return Envelope(**values)


# --------------------------------------------------------------------------------------------
# facts from a REST request
# --------------------------------------------------------------------------------------------
def facts_from_request(
    patient: Patient, current: Prescription | None, history: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The kernel's facts for one REST patient: the patients-table row (same flattening as the
    feature pipeline), the current prescription as rx_* columns, and the history facts
    (`HISTORY_FACTS`, `features.history` names; missing ones are unknown)."""
    facts = patient_to_row(patient, dt.date.today())
    facts.update(prescription_to_row(current))
    history = history or {}
    for name in HISTORY_FACTS:
        facts[name] = history.get(name)
    return facts


# --------------------------------------------------------------------------------------------
# the final gate: check and clamp
# --------------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:g}"


def _within(problems: list[str], what: str, x: float, lo: float, hi: float) -> None:
    """Append a problem unless lo <= x <= hi (up to float noise); NaN is always a problem."""
    tol_lo = TOLERANCE * max(1.0, abs(lo))
    tol_hi = TOLERANCE * max(1.0, abs(hi)) if math.isfinite(hi) else 0.0
    if not (lo - tol_lo <= x <= hi + tol_hi):
        problems.append(f"{what} {_fmt(x)} outside {_fmt(lo)}-{_fmt(hi)}")


def _at_most(problems: list[str], what: str, x: float, hi: float) -> None:
    tol = TOLERANCE * max(1.0, abs(hi)) if math.isfinite(hi) else 0.0
    if not x <= hi + tol:
        problems.append(f"{what} {_fmt(x)} above the maximum {_fmt(hi)}")


def modeq_factor(pct_hrmax_high: float) -> int:
    """A band whose top reaches vigorous intensity counts every minute twice (PAG 2018)."""
    return 2 if pct_hrmax_high >= VIGOROUS_PCT_HRMAX else 1


def check_prescription(prescription: Prescription | None, result: KernelResult) -> list[str]:
    """Every way `prescription` breaks the kernel's verdict; an empty list means it is safe.

    No prescription (None) is always safe. Under hold or refer, any aerobic or resistance dose is a
    violation. Otherwise every component must lie inside the envelope (a component of a modality
    the envelope closes is a violation), the week's totals must fit, and every required restriction
    must be listed (more restrictions than required are fine).
    """
    if prescription is None:
        return []
    rx = prescription
    problems: list[str] = []
    if result.decision != "allowed":
        for name in ("aerobic", "resistance"):
            if getattr(rx, name) is not None:
                problems.append(f"decision is {result.decision}: no {name} dose may be given")
        return problems
    missing = sorted(set(result.restrictions) - set(rx.restrictions))
    if missing:
        problems.append(f"missing required restrictions: {', '.join(missing)}")
    env = result.envelope
    sessions = 0
    a = rx.aerobic
    if a is not None:
        sessions += a.sessions_per_week
        if not env.aerobic_allowed:
            problems.append("aerobic exercise is not allowed this week")
        else:
            lo, hi = a.intensity_pct_hrmax.low, a.intensity_pct_hrmax.high
            pct = (env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max)
            rpe = (RPE_SCALE_MIN, env.aerobic_rpe_max)
            minutes = (env.aerobic_minutes_min, env.aerobic_minutes_max)
            for what, x, (bound_lo, bound_hi) in (
                ("aerobic sessions/week", a.sessions_per_week, (1, env.aerobic_sessions_max)),
                ("aerobic minutes/session", a.minutes_per_session, minutes),
                ("aerobic intensity low %HRmax", lo, pct),
                ("aerobic intensity high %HRmax", hi, pct),
                ("aerobic RPE low", a.rpe.low, rpe),
                ("aerobic RPE high", a.rpe.high, rpe),
            ):
                _within(problems, what, x, bound_lo, bound_hi)
            if not (lo <= hi and a.rpe.low <= a.rpe.high):
                problems.append("aerobic band reversed (low above high)")
            volume = a.sessions_per_week * a.minutes_per_session
            modeq = volume * modeq_factor(hi)
            _at_most(problems, "aerobic minutes x sessions", volume, env.aerobic_weekly_volume_max)
            _at_most(problems, "moderate-equivalent min/week", modeq, env.weekly_modeq_minutes_max)
    r = rx.resistance
    if r is not None:
        sessions += r.sessions_per_week
        if not env.resistance_allowed:
            problems.append("resistance training is not allowed this week")
        else:
            lo, hi = r.intensity_pct_1rm.low, r.intensity_pct_1rm.high
            pct = (env.resistance_pct_1rm_min, env.resistance_pct_1rm_max)
            reps = (env.resistance_reps_min, env.resistance_reps_max)
            for what, x, (bound_lo, bound_hi) in (
                ("resistance sessions/week", r.sessions_per_week, (1, env.resistance_sessions_max)),
                ("resistance sets", r.sets, (env.resistance_sets_min, env.resistance_sets_max)),
                ("resistance reps low", r.reps.low, reps),
                ("resistance reps high", r.reps.high, reps),
                ("resistance load low %1RM", lo, pct),
                ("resistance load high %1RM", hi, pct),
            ):
                _within(problems, what, x, bound_lo, bound_hi)
            if not (lo <= hi and r.reps.low <= r.reps.high):
                problems.append("resistance band reversed (low above high)")
            prog = env.resistance_pct_1rm_progression_max
            _at_most(problems, "resistance load high %1RM (progression)", hi, prog)
    _at_most(problems, "sessions/week (aerobic + resistance)", sessions, env.total_sessions_max)
    return problems


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _clip_int(x: int, lo: float, hi: float) -> int:
    return int(min(max(x, math.ceil(lo)), math.floor(hi)))


def _clamp_resistance(r: ResistanceDose | None, env: Envelope) -> ResistanceDose | None:
    if r is None or not env.resistance_allowed or r.sessions_per_week < 1 or r.sets < 1:
        return None
    sessions = min(r.sessions_per_week, env.resistance_sessions_max, env.total_sessions_max)
    if sessions < 1:
        return None
    pmax = min(env.resistance_pct_1rm_max, env.resistance_pct_1rm_progression_max)
    pmin = env.resistance_pct_1rm_min
    reps = (env.resistance_reps_min, env.resistance_reps_max)
    return ResistanceDose(
        sessions_per_week=sessions,
        sets=_clip_int(r.sets, env.resistance_sets_min, env.resistance_sets_max),
        reps=IntRange(low=_clip_int(r.reps.low, *reps), high=_clip_int(r.reps.high, *reps)),
        intensity_pct_1rm=Range(
            low=_clip(r.intensity_pct_1rm.low, pmin, pmax),
            high=_clip(r.intensity_pct_1rm.high, pmin, pmax),
        ),
    )


def _clamp_aerobic(a: AerobicDose | None, env: Envelope, max_sessions: int) -> AerobicDose | None:
    if a is None or not env.aerobic_allowed or a.sessions_per_week < 1:
        return None
    if not a.minutes_per_session > 0:
        return None
    sessions = min(a.sessions_per_week, env.aerobic_sessions_max, max_sessions)
    if sessions < 1:
        return None
    pmin, pmax = env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max
    low = _clip(a.intensity_pct_hrmax.low, pmin, pmax)
    high = _clip(a.intensity_pct_hrmax.high, pmin, pmax)
    mmin = env.aerobic_minutes_min
    minutes = _clip(a.minutes_per_session, mmin, env.aerobic_minutes_max)
    cap = min(env.aerobic_weekly_volume_max, env.weekly_modeq_minutes_max / modeq_factor(high))
    if sessions * minutes > cap:
        # fewer sessions only if even the shortest sessions do not fit, then shorter sessions
        sessions = min(sessions, int(cap // mmin)) if mmin > 0 else sessions
        if sessions < 1:
            return None
        minutes = max(mmin, min(minutes, math.floor(cap / sessions * 100) / 100))
        while sessions * minutes > cap and minutes > mmin:
            minutes = max(mmin, math.nextafter(minutes, 0.0))
    rpe_lo = _clip_int(a.rpe.low, RPE_SCALE_MIN, env.aerobic_rpe_max)
    rpe_hi = _clip_int(a.rpe.high, RPE_SCALE_MIN, env.aerobic_rpe_max)
    return AerobicDose(
        sessions_per_week=sessions,
        minutes_per_session=minutes,
        intensity_pct_hrmax=Range(low=low, high=high),
        rpe=IntRange(low=rpe_lo, high=rpe_hi),
    )


def clamp_prescription(
    prescription: Prescription | None, result: KernelResult
) -> Prescription | None:
    """Force a prescription inside the envelope (defence in depth); None under hold or refer.

    Every value is moved to the nearest allowed one; a component of a closed modality (or with no
    sessions) is dropped; when the week is too long, aerobic sessions are shortened first, and only
    if even the shortest sessions do not fit are there fewer of them; resistance keeps its sessions
    and aerobic gives way when the weekly session cap is reached. Required restrictions are added.
    """
    if result.decision != "allowed" or prescription is None:
        return None
    env = result.envelope
    resistance = _clamp_resistance(prescription.resistance, env)
    used = resistance.sessions_per_week if resistance is not None else 0
    aerobic = _clamp_aerobic(prescription.aerobic, env, env.total_sessions_max - used)
    restrictions = sorted(set(prescription.restrictions) | set(result.restrictions))
    return Prescription(aerobic=aerobic, resistance=resistance, restrictions=restrictions)
