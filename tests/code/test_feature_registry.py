"""The feature registry (features/registry.py) is the one declaration of the model's features:
the pipeline, the training constraints, the kernel's history facts and the docs all read it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from features import FEATURE_SET, build, registry
from features import candidates as cand_mod
from features import history as hist_mod
from features import profile as prof_mod
from features.contract.convert import requests_to_columns
from features.contract.examples import load_example
from features.contract.rest import RecommendRequest

REPO = Path(__file__).resolve().parents[2]


def test_registry_is_the_feature_set_in_order() -> None:
    names = registry.names()
    assert len(set(names)) == len(names)
    assert names == FEATURE_SET.columns
    assert registry.names("profile") == prof_mod.COLUMNS  # computed positionally: must agree
    assert registry.names("history") == hist_mod.COLUMNS
    assert registry.names("candidate") == cand_mod.COLUMNS
    assert set(FEATURE_SET.monotone_decreasing) == set(registry.monotone_decreasing())


def test_every_declared_feature_is_computed() -> None:
    """The REST example through the pipeline gives every declared column (history and profile
    from data, candidate columns NaN without candidates)."""
    req = RecommendRequest.model_validate(load_example("recommend-request"))
    patients, sessions = requests_to_columns([req])
    frame = build(patients, sessions, req.as_of)
    assert tuple(c for c in frame.columns if c not in ("patient_id", "as_of")) == registry.names()
    history = frame[list(registry.names("history"))].to_numpy(float)
    assert np.isfinite(history[0, : registry.names("history").index("n_sessions_total") + 1]).any()


def test_kernel_reads_the_registry_history_facts() -> None:
    from serving.guidelines import kernel as gk

    assert gk.HISTORY_FACTS == registry.KERNEL_HISTORY_FACTS
    assert {"serious_ae_7d", "intolerant_streak"} <= set(gk.HISTORY_FACTS)
    history = set(registry.names("history"))
    assert set(gk.HISTORY_FACTS) <= history
    from serving.guidelines.kernel.facts import LOGGED_DOSE

    facts_in_rules = (REPO / "serving" / "guidelines" / "rules.yaml").read_text()
    # the logged dose is read through the dose_* facts it stands in for (2026.12.7)
    via_dose = {log: dose for dose, (_, log) in LOGGED_DOSE.items()}
    for name in gk.HISTORY_FACTS:
        read_as = via_dose.get(name, name)
        assert read_as in facts_in_rules, f"{name} is a kernel fact no rule reads"


def test_training_constraints_are_the_registry_ones() -> None:
    from training.models import monotone_vector

    cols = FEATURE_SET.columns
    vector = monotone_vector(cols, frozenset(FEATURE_SET.monotone_decreasing))
    assert vector == [f.monotone for f in registry.FEATURES]


def test_feature_docs_are_current() -> None:
    text = (REPO / "features" / "FEATURES.md").read_text(encoding="utf-8")
    assert text == registry.markdown(), "regenerate: uv run python -m features.registry"
    source = (REPO / "features" / "registry.py").read_text(encoding="utf-8")
    for name in registry.names():  # grep finds each feature's declaration by its name
        assert source.count(json.dumps(name)) == 1, name
