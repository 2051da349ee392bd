"""Example payloads of the contract, shipped with the package: the OpenAPI document shows them
and the tests post them (`tests/fixtures` links here), so the two cannot drift apart.

`recommend-request.json` / `recommend-response.json` are `shared/contract/`'s examples (the
response with the additive fields of later contract versions); `predict-request.json` is ours.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

NAMES = ("recommend-request", "recommend-response", "predict-request")


@cache
def _text(name: str) -> str:
    if name not in NAMES:
        raise KeyError(f"no example {name!r}; there are {', '.join(NAMES)}")
    return files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")


def load_example(name: str) -> Any:
    """A fresh copy of an example payload (callers may change it)."""
    return json.loads(_text(name))
