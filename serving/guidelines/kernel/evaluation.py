"""Applying a compiled rule set to one patient's facts: hold -> refer -> the envelope-shaping
rules, the most restrictive value winning, and the closed-modality labels derived from the final
envelope (see the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.guidelines.envelope import (
    AEROBIC_FIELDS,
    EMPTY,
    ENVELOPE_FIELDS,
    INTEGER_FIELDS,
    RESISTANCE_FIELDS,
    VIGOROUS_PCT_1RM,
    VIGOROUS_PCT_HRMAX,
    Envelope,
)
from serving.guidelines.kernel.conditions import aerobic_infeasible, resistance_infeasible
from serving.guidelines.kernel.facts import DOSE_LOGGED, Facts, Limits, dose_facts, to_number
from serving.guidelines.kernel.ruleset import FiredRule, Rule, RuleSet, default_rules

# Labels derived from the final envelope (see the package docstring).
CLOSURE_LABELS = ("no_aerobic", "no_resistance", "no_vigorous")


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
    f: Facts = {name: convert(get(name)) for name, convert in rs.converters}
    sessions, minutes = to_number(get("rx_aerobic_sessions")), to_number(get("rx_aerobic_minutes"))
    f["rx_aerobic_volume"] = None if sessions is None or minutes is None else sessions * minutes
    dose_facts(f)
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
        # the session log stood in for the current prescription (2026.12.7): say so
        tuple(sorted(unknown | ({"current_prescription"} if f.get(DOSE_LOGGED) else set()))),
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
    aerobic_open = lim["aerobic_sessions_max"] >= 1 and not aerobic_infeasible({}, set(), lim)
    resistance_open = (
        lim["resistance_allowed"] >= 1
        and lim["resistance_sessions_max"] >= 1
        and not resistance_infeasible({}, set(), lim)
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
