"""Model behaviour, metric floors, registry round trip and the promotion gate, on a small cohort.

One small simulated cohort is trained once per module into a registry under `tmp_path`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features import FEATURE_SET
from features.settings import Settings
from training import registry
from training.train import promote, run_training

N_PATIENTS, WEEKS, SEED = 400, 8, 3


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    from training.calibration import write_cohort
    from training.simulator import simulate_cohort

    out = tmp_path_factory.mktemp("cohort")
    patients, sessions = simulate_cohort(n_patients=N_PATIENTS, weeks=WEEKS, seed=SEED)
    write_cohort(patients, sessions, out)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cohort_dir: Path) -> tuple[Settings, dict]:
    root = tmp_path_factory.mktemp("root")
    settings = Settings(root=root)
    summary = run_training(settings, cohort_dir, seed=SEED)
    return settings, summary


def _load(settings: Settings, name: str, ref: str = "@champion"):
    registry.configure(settings)
    return mlflow.sklearn.load_model(f"models:/{name}{ref}")


def _heldout(settings: Settings, summary: dict, kind: str) -> pd.DataFrame:
    registry.configure(settings)
    run_id = summary["models"][kind]["run_id"]
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="heldout/test.parquet")
    return pd.read_parquet(path)


def test_metric_floors_on_fixed_seed(trained) -> None:
    _, summary = trained
    tol = summary["models"]["tolerance"]["metrics"]
    adh = summary["models"]["adherence"]["metrics"]
    # small cohort: loose floors, but far above chance and reasonably calibrated
    assert tol["auroc"] >= 0.65 and tol["auroc"] >= tol["oracle_auroc"] - 0.08
    assert adh["auroc"] >= 0.65 and adh["auroc"] >= adh["oracle_auroc"] - 0.08
    assert tol["ece"] <= 0.06 and adh["ece"] <= 0.06
    for m in (tol, adh):
        assert 0 <= m["brier"] <= 0.25


def test_first_training_promotes_both_to_champion(trained) -> None:
    settings, summary = trained
    client = registry.configure(settings)
    for kind, name in (
        ("tolerance", settings.tolerance_model_name),
        ("adherence", settings.adherence_model_name),
    ):
        version = summary["models"][kind]["version"]
        assert summary["models"][kind]["promotion"]["promoted"] is True
        assert registry.alias_version(client, name, "champion") == version
        assert registry.alias_version(client, name, "challenger") == version
        tags = client.get_model_version(name, version).tags
        assert tags["feature_set_version"] == FEATURE_SET.version
        assert float(tags["auroc"]) == pytest.approx(summary["models"][kind]["metrics"]["auroc"])


def test_champion_loads_in_a_fresh_process(trained) -> None:
    settings, _ = trained
    code = (
        "import mlflow, json; from features.settings import apply_offline_environment;"
        "apply_offline_environment();"
        f"mlflow.set_tracking_uri({settings.mlflow_tracking_uri!r});"
        "m = mlflow.pyfunc.load_model('models:/dosewise-tolerance@champion');"
        "ex = m.input_example;"
        "print(json.dumps([float(x) for x in __import__('numpy').asarray(m.predict(ex))[:, 1]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    probs = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(probs) == 5 and all(0 <= p <= 1 for p in probs)


def _bump(frame: pd.DataFrame, col: str, delta: float) -> pd.DataFrame:
    out = frame.copy()
    out[col] = out[col] + delta
    return out


@pytest.mark.parametrize(
    "col,delta",
    [
        ("aerobic_minutes", 15),
        ("aerobic_pct_hrmax", 8),
        ("resistance_pct_1rm", 10),
        ("session_minutes", 15),
        ("session_intensity", 8),
        ("ecog", 1),
    ],
)
def test_more_dose_or_worse_ecog_never_raises_tolerance(trained, col: str, delta: float) -> None:
    settings, summary = trained
    assert col in FEATURE_SET.columns
    model = _load(settings, settings.tolerance_model_name)
    test = _heldout(settings, summary, "tolerance").head(2000)
    X = test[list(FEATURE_SET.columns)]
    before = model.predict_proba(X)[:, 1]
    after = model.predict_proba(_bump(X, col, delta))[:, 1]
    assert np.all(after <= before + 1e-9)


def test_row_order_and_patient_id_change_nothing(trained) -> None:
    settings, summary = trained
    model = _load(settings, settings.tolerance_model_name)
    test = _heldout(settings, summary, "tolerance").head(1000)
    X = test[list(FEATURE_SET.columns)]
    perm = np.random.default_rng(0).permutation(len(X))
    p = model.predict_proba(X)[:, 1]
    p_perm = model.predict_proba(X.iloc[perm])[:, 1]
    np.testing.assert_array_equal(p[perm], p_perm)
    assert "patient_id" not in FEATURE_SET.columns


def test_same_seed_same_metrics(tmp_path: Path, cohort_dir: Path, trained) -> None:
    _, first = trained
    second = run_training(Settings(root=tmp_path), cohort_dir, seed=SEED, do_promote=False)
    for kind in ("tolerance", "adherence"):
        a, b = first["models"][kind]["metrics"], second["models"][kind]["metrics"]
        for key in ("auroc", "brier", "ece", "baseline_auroc", "oracle_auroc"):
            assert a[key] == pytest.approx(b[key], abs=1e-9), (kind, key)


def test_promotion_refuses_a_worse_model(trained, cohort_dir: Path, monkeypatch) -> None:
    settings, _ = trained
    import training.train as tt

    real_fit = tt.fit_lightgbm

    def fit_on_noise(X, y, X_val, y_val, decreasing, seed, *a, **k):
        rng = np.random.default_rng(seed)
        return real_fit(X, rng.permutation(y), X_val, rng.permutation(y_val), decreasing, seed)

    monkeypatch.setattr(tt, "fit_lightgbm", fit_on_noise)
    client = registry.configure(settings)
    champ_before = registry.alias_version(client, settings.tolerance_model_name, "champion")
    summary = run_training(settings, cohort_dir, seed=SEED, do_promote=False)
    decisions = {d.model: d for d in promote(settings)}
    d = decisions[settings.tolerance_model_name]
    assert d.promoted is False and "AUROC" in d.reason
    assert registry.alias_version(client, settings.tolerance_model_name, "champion") == champ_before
    assert (
        registry.alias_version(client, settings.tolerance_model_name, "challenger")
        == (summary["models"]["tolerance"]["version"])
    )


def test_gate_rules() -> None:
    good = {"auroc": 0.80, "ece": 0.02}
    assert registry.decide(good, None)[0]
    assert registry.decide(good, {"auroc": 0.801, "ece": 0.02})[0]  # inside the margin
    assert not registry.decide(good, {"auroc": 0.81, "ece": 0.02})[0]
    assert not registry.decide(good, {"auroc": 0.80, "ece": 0.01})[0]


def test_serving_predictor_reproduces_the_registered_model(trained) -> None:
    """serving.models: the booster fast path on a bare matrix (the policy's input) and on a
    DataFrame gives the registered scikit-learn model's probabilities; explanations add up."""
    from serving.models import load_champions

    settings, summary = trained
    models = load_champions(settings)
    for kind in ("tolerance", "adherence"):
        predictor = getattr(models, kind)
        assert predictor._fast, f"{kind}: fast path refused at load"
        model = _load(settings, getattr(settings, f"{kind}_model_name"))
        X = _heldout(settings, summary, kind).head(500)[list(FEATURE_SET.columns)]
        want = model.predict_proba(X)[:, 1]
        np.testing.assert_allclose(predictor.predict(X.to_numpy()), want, atol=1e-9, rtol=0)
        np.testing.assert_allclose(predictor.predict(X), want, atol=1e-9, rtol=0)
        contrib = predictor.explain(X.to_numpy()[:50])
        raw = predictor._booster.predict(X.to_numpy()[:50], raw_score=True)
        np.testing.assert_allclose(contrib.sum(axis=1), raw, atol=1e-6)
    with pytest.raises(ValueError, match="feature columns"):
        models.tolerance.predict(np.zeros((2, 3)))


def test_attendance_is_a_per_session_label_with_its_oracle(trained) -> None:
    """The adherence model predicts attendance of one planned session (DESIGN.md section 3),
    so its held-out rows are sessions of both modalities, labelled 0/1, with p_attend."""
    settings, summary = trained
    test = _heldout(settings, summary, "adherence")
    assert set(test["is_aerobic"].dropna().unique()) == {0.0, 1.0}
    assert set(test["label"].unique()) <= {0, 1}
    assert test["oracle"].between(0, 1).all()
    # calibrated in the large: mean prediction close to the attendance rate
    model = _load(settings, settings.adherence_model_name)
    p = model.predict_proba(test[list(FEATURE_SET.columns)])[:, 1]
    assert abs(p.mean() - test["label"].mean()) < 0.03


def test_one_more_session_raises_expected_attended_sessions(trained) -> None:
    """Frequency is not punished by the label: sessions x P(attend) grows with a session."""
    settings, summary = trained
    model = _load(settings, settings.adherence_model_name)
    test = _heldout(settings, summary, "adherence")
    test = test[test["is_aerobic"] == 1.0].head(2000)
    X = test[list(FEATURE_SET.columns)]
    s = X["aerobic_sessions"].to_numpy(float)
    more = _bump(_bump(X, "aerobic_sessions", 1), "total_sessions", 1)
    before = s * model.predict_proba(X)[:, 1]
    after = (s + 1) * model.predict_proba(more)[:, 1]
    assert np.mean(after > before) >= 0.99
