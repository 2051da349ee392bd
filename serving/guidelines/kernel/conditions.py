"""Rule conditions and limit values, compiled from the YAML trees into small functions (nothing
is eval'ed): every field, operator and vocabulary word is checked, and each mistake is a
`RuleFileError` naming the rule."""

from __future__ import annotations

import operator
from typing import Any

from serving.guidelines.kernel.facts import (
    BOOL_FIELDS,
    HISTORY_FACTS,
    LIST_FIELDS,
    NUMBER_FIELDS,
    TEXT_FIELDS,
    Check,
    Facts,
    Limits,
    Value,
)


class RuleFileError(ValueError):
    """The rule file is malformed; the message names the rule and the problem."""


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


def aerobic_infeasible(f: Facts, r: set[str], lim: Limits) -> bool:
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


def resistance_infeasible(f: Facts, r: set[str], lim: Limits) -> bool:
    """Resistance is still allowed, but not even one session at the minimum dose fits."""
    if lim["resistance_allowed"] < 1 or lim["resistance_sessions_max"] < 1:
        return False
    return (
        lim["resistance_pct_1rm_max"] < lim["resistance_pct_1rm_min"]
        or lim["resistance_sets_max"] < lim["resistance_sets_min"]
        or lim["resistance_reps_max"] < lim["resistance_reps_min"]
        or lim["total_sessions_max"] < 1
    )


class Compiler:
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
                return aerobic_infeasible
            if arg == "resistance":
                return resistance_infeasible
            raise self.fail(where, f"infeasible: aerobic or resistance, not {arg!r}")
        if key == "missing":
            self.known(arg, where)
            if arg in LIST_FIELDS:
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
            name in NUMBER_FIELDS
            or name in BOOL_FIELDS
            or name in TEXT_FIELDS
            or name in LIST_FIELDS
        ):
            raise self.fail(where, f"unknown fact {name!r}")
        if name != "restrictions":
            self.fields.add(name)
        return name

    def list_field(self, name: Any, where: str) -> tuple[str, ...]:
        self.known(name, where)
        if name not in LIST_FIELDS:
            raise self.fail(where, f"{name!r} is not a list fact")
        return LIST_FIELDS[name]

    def comparison(self, node: list, where: str) -> Check:
        if len(node) != 3:
            raise self.fail(where, f"a comparison is [field, op, value]: {node!r}")
        name, op, value = node
        self.known(name, where)
        if name in NUMBER_FIELDS:
            if op not in _COMPARE or isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(where, f"{name} needs a numeric comparison: {node!r}")
            fn, threshold = _COMPARE[op], float(value)
            return lambda f, r, lim: (x := f[name]) is not None and fn(x, threshold)
        if name in BOOL_FIELDS:
            if op not in ("==", "!=") or not isinstance(value, bool):
                raise self.fail(where, f"{name} is yes/no: use == true or == false: {node!r}")
            want = value if op == "==" else not value
            return lambda f, r, lim: f[name] is want
        if name in TEXT_FIELDS:
            vocab = TEXT_FIELDS[name]
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
        keys = {"current", "times", "without_current"}
        if isinstance(node, dict) and keys <= set(node) <= keys | {"or_tolerated"}:
            src, times, without = node["current"], node["times"], node["without_current"]
            self.known(src, where)
            if not (src.startswith(("rx_", "dose_")) and src in NUMBER_FIELDS):
                raise self.fail(
                    where, f"current: must name a numeric rx_* or dose_* fact, not {src!r}"
                )
            record = node.get("or_tolerated")
            if record is not None:
                self.known(record, where)
                if record not in HISTORY_FACTS or record not in NUMBER_FIELDS:
                    raise self.fail(where, f"or_tolerated: not a history fact: {record!r}")
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
                if x is None:
                    return fallback
                # the tolerated record steps in only above the current dose; unknown is 0
                if record is not None and (done := f[record]) is not None and done > x:
                    x = done
                # rounding keeps 1.1 x 30 at 33, not 33.000000000000004
                return round(max(x, 0.0) * factor, 6)

            return current
        raise self.fail(
            where,
            f"{name}: a limit is a number or {{current, times, without_current[, or_tolerated]}}",
        )
