"""A champion is never fed a column whose meaning changed after it was trained: the columns keep
their names when a meaning changes (FEATURE_SET 1.3.0: the tolerated record counts completed
minutes, not planned ones), so such a model would score silently wrong inputs. Serving refuses it
(503, never a guess) and the main job (`dosewise up`) retrains instead of skipping training. A
version that only added columns is no concern: the older model does not read them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from features import FEATURE_SET
from features.registry import FEATURES, stale_columns
from features.settings import Settings
from serving.models import ModelUnavailableError, load_champions
from training.registry import champion_features, configure, has_champion

RECORD = "aerobic_tolerated_weekly_minutes_28d"


def test_stale_columns_are_those_whose_meaning_changed_after_training() -> None:
    assert stale_columns(["age", RECORD], FEATURE_SET.version) == []
    assert stale_columns(["age", RECORD], "1.2.0") == [RECORD]  # changed in 1.3.0
    assert stale_columns(["age"], "1.1.0") == []  # a model that never read it
    assert stale_columns(["age", RECORD], None) == ["age", RECORD]  # unknown: every column
    assert stale_columns(["age", "a_feature_since_removed"], "1.2.0") == ["a_feature_since_removed"]
    newest = max(tuple(map(int, f.since.split("."))) for f in FEATURES)
    assert newest <= tuple(map(int, FEATURE_SET.version.split(".")))  # bump the set with a meaning


def test_a_champion_reading_a_changed_column_is_not_served(
    tmp_path: Path, template_registry: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(template_registry, root / "mlruns")
    settings = Settings(root=root)
    name = settings.tolerance_model_name
    assert has_champion(settings)
    load_champions(settings)  # this code's feature set: served

    client = configure(settings)  # (serving's own client is read-only)
    version = client.get_model_version_by_alias(name, settings.champion_alias).version
    client.set_model_version_tag(name, version, "feature_set_version", "1.2.0")
    found = champion_features(settings)[name]
    assert found is not None and found.feature_set_version == "1.2.0"
    assert RECORD in found.stale
    assert not has_champion(settings)  # so `dosewise up` trains
    with pytest.raises(ModelUnavailableError, match=rf"feature set 1\.2\.0; .*{RECORD}.*retrain"):
        load_champions(settings)

    client.delete_model_version_tag(name, version, "feature_set_version")  # untagged: unknown
    assert not has_champion(settings)
    with pytest.raises(ModelUnavailableError, match="feature set None"):
        load_champions(settings)
