"""Issue #15: at promotion the champion's reference distributions (held-out predictions and
per-feature histograms) are stored as MLflow artifacts of that model version (tmp_path registry)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.settings import Settings
from training import registry


def test_feature_histogram_counts_every_row() -> None:
    x = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0, np.nan, 6.0, 7.0, 8.0, np.nan, 9.0])
    h = registry.feature_histogram(x, bins=4)
    assert h["missing"] == 2
    assert sum(h["counts"]) == 10
    assert h["edges"][0] == 1.0 and h["edges"][-1] == 9.0
    assert len(h["counts"]) == len(h["edges"]) - 1
    constant = registry.feature_histogram(np.array([3.0, 3.0, np.nan]))
    assert constant == {"edges": [3.0, 3.0], "counts": [2], "missing": 1}
    empty = registry.feature_histogram(np.array([np.nan, np.nan]))
    assert empty == {"edges": [], "counts": [], "missing": 2}


def test_reference_is_stored_with_the_model_version(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    client = registry.configure(settings)
    with mlflow.start_run() as run:
        mlflow.log_param("kind", "test")
    name = "dosewise-tolerance"
    client.create_registered_model(name)
    mv = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    rng = np.random.default_rng(3)
    features = pd.DataFrame({"age": rng.integers(18, 90, 500), "ecog": rng.integers(0, 3, 500)})
    features.loc[:9, "age"] = np.nan
    preds = rng.uniform(0.1, 0.9, 500)

    uri = registry.store_reference(client, name, str(mv.version), features, preds)
    assert uri == f"runs:/{run.info.run_id}/reference"
    assert client.get_model_version(name, str(mv.version)).tags["reference_artifacts"] == uri
    ref = registry.load_reference(client, name, str(mv.version))
    assert ref["n"] == 500
    np.testing.assert_allclose(ref["heldout_predictions"], preds)
    counts, _ = np.histogram(preds, bins=20, range=(0, 1))
    assert ref["predictions"]["counts"] == counts.tolist()
    assert set(ref["features"]) == {"age", "ecog"}
    assert ref["features"]["age"]["missing"] == 10
    assert sum(ref["features"]["age"]["counts"]) == 490
    assert sum(ref["features"]["ecog"]["counts"]) == 500
    names = {a.path for a in client.list_artifacts(run.info.run_id, "reference")}
    assert names == {"reference/predictions.parquet", "reference/histograms.json"}
    with pytest.raises(KeyError):  # a version without a reference says so
        mv2 = client.create_model_version(name, f"runs:/{run.info.run_id}/m", run.info.run_id)
        registry.load_reference(client, name, str(mv2.version))
