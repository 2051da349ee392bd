"""Reading a request body as JSON, strictly: the stdlib parser with guards, never pydantic's.

Why not `model_validate_json` straight on the bytes (issue #17):
* nesting: a body nested ~1,000 levels deep made building the 422 recurse past Python's limit
  (a 500). The depth is measured first, in C-speed passes (a regex drops the strings, numpy
  counts brackets), and anything deeper than MAX_DEPTH is refused before any parser recurses;
* duplicate keys: JSON parsers keep the last one, so `"adverse_event": "none", "adverse_event":
  "serious"` read as serious, in the other order as none. `object_pairs_hook` refuses them;
* `NaN`, `Infinity` are not JSON (Python's parser accepts them) and the body must be UTF-8
  (RFC 8259), lone surrogates included;
* integers: an integer literal is bounded (MAX_INT_DIGITS) before it becomes a Python int, so no
  huge integer can reach a float conversion (10^309 days, 10^400 sets were 500s). No field of the
  contract takes a number with that many digits; the fields' own bounds name the field below it.
The caller then validates the Python object with pydantic (python mode), so every field error
still names its field.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

# The contract nests 5 levels (batch -> request -> prescription -> aerobic -> range); 32 leaves
# room for any honest client and none for a recursion attack.
MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # may also match an escaped backslash
# 15 digits: every integer below 10^15 is exact as a float; the contract's largest bound is 2,000.
MAX_INT_DIGITS = 15


class JsonBodyError(ValueError):
    """The body is not acceptable JSON; the message is safe to return (no submitted value)."""


def nesting_depth(body: bytes) -> int:
    """Deepest bracket nesting of a JSON text, brackets inside strings ignored."""
    stripped = np.frombuffer(_STRING.sub(b"", body), dtype=np.uint8)
    if not stripped.size:
        return 0
    step = np.isin(stripped, _OPEN).astype(np.int32) - np.isin(stripped, _CLOSE).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


def _reject_constant(name: str) -> Any:
    raise JsonBodyError("NaN and Infinity are not JSON numbers")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonBodyError(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            shown = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key) else "a key"
            raise JsonBodyError(f"duplicate key {shown!r} in an object")
        out[key] = value
    return out


def read_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `body`; JsonBodyError (a 422 at `["body"]`) when it is not acceptable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyError("the body must be UTF-8 encoded JSON") from None
    if nesting_depth(body) > max_depth:
        raise JsonBodyError(f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
        )
    except JsonBodyError:
        raise
    except json.JSONDecodeError as exc:
        raise JsonBodyError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError):  # e.g. an integer of more than 4,300 digits
        raise JsonBodyError("a value cannot be read (number too long?)") from None
    # a valid UTF-8 body holds no surrogate itself: one can only come from a \uD800-\uDFFF
    # escape, so without such bytes the walk over every string is skipped
    if _SURROGATE_ESCAPE.search(body) and _has_surrogate(value):
        raise JsonBodyError("a string holds an unpaired UTF-16 surrogate")
    return value


def _has_surrogate(value: Any) -> bool:
    """True if any string (key or value) holds a lone surrogate (\\ud800 escapes)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
