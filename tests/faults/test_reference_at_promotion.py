"""Issue #15: a real training run's promotion stores each champion's reference distributions
(uses the suite's tiny trained registry, `template_registry`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from features import FEATURE_SET
from features.settings import Settings
from training import registry


def test_promoted_champions_carry_reference_distributions(
    tmp_path: Path, template_registry: Path
) -> None:
    shutil.copytree(template_registry, tmp_path / "mlruns")
    settings = Settings(root=tmp_path)
    client = registry.configure(settings)
    for name in (settings.tolerance_model_name, settings.adherence_model_name):
        version = registry.alias_version(client, name, settings.champion_alias)
        assert version is not None
        ref = registry.load_reference(client, name, version)
        assert ref["n"] == len(ref["heldout_predictions"]) > 50
        assert sum(ref["predictions"]["counts"]) == ref["n"]
        assert set(ref["features"]) <= set(FEATURE_SET.columns) and len(ref["features"]) > 10
        for hist in ref["features"].values():
            assert sum(hist["counts"]) + hist["missing"] == ref["n"]
