"""A feature whose values change must say so in its `since` (features/registry.py), or a
champion trained on its old meaning would still be served (`stale_columns` trusts `since`)."""

from __future__ import annotations

import json

import pytest

from features import FEATURE_SET
from tests.data.feature_fingerprints import PATH, compute, fingerprint

REWRITE = "uv run python -m tests.data.feature_fingerprints"


@pytest.fixture(scope="module")
def now() -> dict[str, dict[str, str]]:
    return compute()


def test_every_feature_has_a_recorded_fingerprint(now) -> None:
    recorded = json.loads(PATH.read_text())
    assert list(recorded) == list(FEATURE_SET.columns), (
        f"features added, removed or reordered since {PATH.name} was written: {REWRITE}"
    )


def test_a_feature_whose_values_changed_has_a_new_since(now) -> None:
    recorded = json.loads(PATH.read_text())
    silent, moved = [], []
    for name, was in recorded.items():
        if name not in now or now[name]["fingerprint"] == was["fingerprint"]:
            continue
        (moved if now[name]["since"] != was["since"] else silent).append(name)
    assert not silent, (
        f"{', '.join(silent)}: values changed on the fixed cohort but `since` did not. If the "
        f"meaning changed, bump FEATURE_SET.version and each feature's `since` (champions trained "
        f"before are then refused and retrained); if not (say, a different summation order), "
        f"{REWRITE}"
    )
    assert not moved, f"{', '.join(moved)}: `since` bumped; record the new values: {REWRITE}"


def test_the_fingerprint_sees_a_change_in_one_value() -> None:
    import numpy as np

    x = np.array([1.0, np.nan, 2.5, -0.0])
    assert fingerprint(x) == fingerprint(np.array([1.0, np.nan, 2.5, 0.0]))
    assert fingerprint(x) == fingerprint(x + 1e-12)  # summation order is not a change
    assert fingerprint(x) != fingerprint(np.array([1.0, np.nan, 2.5001, 0.0]))
    assert fingerprint(x) != fingerprint(np.array([1.0, 0.0, 2.5, 0.0]))  # NaN is not 0
