"""Champion models from the MLflow registry (never from training/ code), ready for the policy.

The registered artifact is a scikit-learn model (LightGBM, maybe calibrated: Platt scaling, or
isotonic for models registered before 2026-12). For
speed the serving path calls the LightGBM booster directly on a float matrix with one thread
(OpenMP threads spin and collapse when the 2 cores are shared) and applies the calibrator
itself; at load time the fast path is checked against the full scikit-learn model on the
registered input example and abandoned for the slow path if they differ.

Explanations are Saabas path attributions (as in `treeinterpreter`): per tree, the change in the
node's expected value along the decision path is credited to the split feature. Like TreeSHAP
they add up exactly to the log-odds; unlike TreeSHAP they cost one leaf lookup per tree
(precomputed), which keeps a recommendation in the low milliseconds.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from scipy.special import expit

from features import FEATURE_SET
from features.registry import stale_columns
from features.settings import Settings, apply_offline_environment
from serving.policy import FEATURE_COLUMNS, Models

log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """No champion (or it failed to load): the service answers 503, never a guess."""


def _unwrap(model: object) -> tuple[object, object | None]:
    """(LGBMClassifier, calibrator (Platt or isotonic) or None) inside a registered model."""
    cal = getattr(model, "calibrated_classifiers_", None)
    if not cal:
        return model, None
    inner = cal[0].estimator
    inner = getattr(inner, "estimator", inner)  # FrozenEstimator
    return inner, cal[0].calibrators[0]


@dataclass
class PathExplainer:
    """Saabas attributions from a LightGBM booster: per tree, per leaf, per feature."""

    contrib: np.ndarray  # trees x max_leaves x features
    bias: float

    @classmethod
    def from_booster(cls, booster) -> PathExplainer:
        trees = booster.dump_model()["tree_info"]
        n_feat = booster.num_feature()
        n_leaves = max(t["num_leaves"] for t in trees)
        contrib = np.zeros((len(trees), n_leaves, n_feat))
        bias = 0.0
        for ti, tree in enumerate(trees):
            root = tree["tree_structure"]
            if "leaf_value" in root:
                bias += root["leaf_value"]
                continue
            bias += root["internal_value"]
            stack = [(root, np.zeros(n_feat))]
            while stack:
                node, acc = stack.pop()
                for side in ("left_child", "right_child"):
                    child = node[side]
                    value = child.get("internal_value", child.get("leaf_value"))
                    step = acc.copy()
                    step[node["split_feature"]] += value - node["internal_value"]
                    if "leaf_index" in child:
                        contrib[ti, child["leaf_index"]] = step
                    else:
                        stack.append((child, step))
        return cls(contrib, bias)

    def explain(self, leaves: np.ndarray) -> np.ndarray:
        """rows x (features + 1): contributions then the bias column, like pred_contrib."""
        n, trees = leaves.shape[0], self.contrib.shape[0]
        out = np.empty((n, self.contrib.shape[2] + 1))
        if n <= 64:  # one gather: rows x trees x features, then a sum
            out[:, :-1] = self.contrib[np.arange(trees)[None, :], leaves].sum(axis=1)
        else:
            out[:, :-1] = 0.0
            for t in range(trees):
                out[:, :-1] += self.contrib[t, leaves[:, t]]
        out[:, -1] = self.bias
        return out


def _calibrate(calibrator: object, score: np.ndarray) -> np.ndarray:
    """The calibrator's output for `score`. Platt scaling is its own formula. An isotonic
    calibrator (registered before 2026-12: training now uses Platt scaling) that clips out of
    bounds is a piecewise-linear interpolation over its thresholds: np.interp gives the same numbers
    without scikit-learn's per-call input validation (a large share of a small request's time);
    `verify_fast_path` still compares the whole path with the registered model."""
    a, b = getattr(calibrator, "a_", None), getattr(calibrator, "b_", None)
    if a is not None and b is not None:  # Platt scaling (sklearn's _SigmoidCalibration)
        return expit(-(a * np.asarray(score, dtype=float) + b))
    xs = getattr(calibrator, "X_thresholds_", None)
    ys = getattr(calibrator, "y_thresholds_", None)
    if xs is not None and ys is not None and getattr(calibrator, "out_of_bounds", "") == "clip":
        return np.interp(np.asarray(score, dtype=float), xs, ys)
    return calibrator.predict(score)  # type: ignore[attr-defined]


@dataclass
class RegistryPredictor:
    """A registered model, its input columns, and a fast single-thread prediction path."""

    name: str
    version: str
    model: object
    columns: list[str]
    _booster: object = field(init=False, default=None)
    _calibrator: object = field(init=False, default=None)
    _calibrate_raw: bool = field(init=False, default=False)
    _fast: bool = field(init=False, default=False)
    _explainer: PathExplainer | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        inner, self._calibrator = _unwrap(self.model)
        booster = getattr(inner, "booster_", None)
        if booster is None:
            return
        self._booster = booster
        self._explainer = PathExplainer.from_booster(booster)

    def verify_fast_path(self, example: pd.DataFrame) -> None:
        """Use the fast path only if it reproduces the scikit-learn model on the example."""
        if self._booster is None or example is None or not len(example):
            return
        want = self.model.predict_proba(example[self.columns])[:, 1]  # type: ignore[attr-defined]
        for raw in (False, True):
            self._calibrate_raw, self._fast = raw, True
            if np.allclose(self.predict(example), want, atol=1e-9, rtol=0):
                return
        self._fast = False
        log.warning("%s: fast prediction path disabled (mismatch with the model)", self.name)

    def _matrix(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The model's input matrix; a bare matrix has FEATURE_SET.columns (policy.Predictor)."""
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != len(FEATURE_COLUMNS):
                raise ValueError(f"expected a matrix of {len(FEATURE_COLUMNS)} feature columns")
            if self.columns == FEATURE_COLUMNS:
                return X.astype(float, copy=False)
            return X[:, [FEATURE_COLUMNS.index(c) for c in self.columns]].astype(float)
        if list(X.columns) == self.columns:
            return X.to_numpy(dtype=float)
        return X[self.columns].to_numpy(dtype=float)

    def _frame(self, X: np.ndarray | pd.DataFrame) -> pd.DataFrame:
        if isinstance(X, np.ndarray):
            X = pd.DataFrame(X, columns=FEATURE_COLUMNS)
        return X[self.columns]

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        if not self._fast:
            return self.model.predict_proba(self._frame(X))[:, 1]  # type: ignore[attr-defined]
        m = self._matrix(X)
        if self._calibrator is None:
            return self._booster.predict(m, num_threads=1)  # type: ignore[attr-defined]
        score = self._booster.predict(  # type: ignore[attr-defined]
            m, raw_score=self._calibrate_raw, num_threads=1
        )
        return np.clip(_calibrate(self._calibrator, score), 0.0, 1.0)

    def explain(self, X: np.ndarray | pd.DataFrame) -> np.ndarray | None:
        """Per-feature contributions to the log-odds (Saabas), plus the bias column."""
        if self._explainer is None:
            return None
        leaves = self._booster.predict(  # type: ignore[attr-defined]
            self._matrix(X), pred_leaf=True, num_threads=1
        )
        return self._explainer.explain(np.asarray(leaves, dtype=int).reshape(len(X), -1))


# Tables every MLflow registry has; a file without them is not a registry (an empty file, a
# half-written copy, something else).
REGISTRY_TABLES = ("alembic_version", "registered_models", "model_versions", "experiments")


def sqlite_registry_path(uri: str) -> Path | None:
    """The file behind a `sqlite:///` registry URI (None for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :].split("?", 1)[0])


def registry_problem(settings: Settings) -> str | None:
    """Why the registry cannot be read now (None when it can). Opens the file read-only: the
    service never creates or migrates a registry (issue #17: a respawned worker used to create
    an empty `mlflow.db` while the real one was away, and then served from it)."""
    assert settings.mlflow_tracking_uri is not None
    path = sqlite_registry_path(settings.mlflow_tracking_uri)
    if path is None:
        return None  # a server store: MLflow's client never creates it
    if not path.is_file():
        return "registry file missing"
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return "registry file unreadable"
    if not set(REGISTRY_TABLES) <= {r[0] for r in rows}:
        return "registry file is not an MLflow registry"
    return None


def read_only_registry_uri(settings: Settings) -> str:
    """The registry URI the service uses: a SQLite file opened read-only (`mode=ro`), so no
    MLflow code path can create tables in it or create it; other stores unchanged. The
    `sqlite+pysqlite://` spelling keeps MLflow from "creating the parent folder" of `file:...`
    (a relative folder named `file:` in the working directory)."""
    assert settings.mlflow_tracking_uri is not None
    path = sqlite_registry_path(settings.mlflow_tracking_uri)
    if path is None:
        return settings.mlflow_tracking_uri
    return f"sqlite+pysqlite:///file:{quote(str(path))}?mode=ro&uri=true"


def registry_client(settings: Settings):
    """An MlflowClient on the read-only registry; ModelUnavailableError when it is not there.

    No connection pool (`NullPool`): each query opens the file at its path, so a registry moved
    away and back (or replaced) is seen as it is now, never through a stale pooled handle."""
    problem = registry_problem(settings)
    if problem is not None:
        raise ModelUnavailableError(problem)
    os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    import mlflow
    from mlflow import MlflowClient

    uri = read_only_registry_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def load_champions(settings: Settings) -> Models:
    """Load both `@champion` models; raises ModelUnavailableError when either is missing."""
    return _load_models(settings, (f"@{settings.champion_alias}",) * 2)


def load_versions(settings: Settings, versions: tuple[str, str]) -> Models:
    """Load the given (tolerance, adherence) versions of the two registered models (what an
    earlier recommendation was made with: its review page explains it with those); raises
    ModelUnavailableError when either is missing."""
    return _load_models(settings, (f"/{versions[0]}", f"/{versions[1]}"))


def _load_models(settings: Settings, refs: tuple[str, str]) -> Models:
    """The two models at `refs` ("@alias" or "/version" after `models:/<name>`)."""
    apply_offline_environment()
    import mlflow
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    client = registry_client(settings)
    loaded = {}
    for kind, name, ref in (
        ("tolerance", settings.tolerance_model_name, refs[0]),
        ("adherence", settings.adherence_model_name, refs[1]),
    ):
        uri = f"models:/{name}{ref}"
        try:
            if ref.startswith("@"):
                mv = client.get_model_version_by_alias(name, ref[1:])
            else:
                mv = client.get_model_version(name, ref[1:])
            model = mlflow.sklearn.load_model(uri)
            info = mlflow.models.get_model_info(uri)
        except (MlflowException, OSError, SQLAlchemyError) as exc:
            raise ModelUnavailableError(f"{name}{ref}: not available") from exc
        columns = [c.name for c in info.signature.inputs.inputs]
        built_on = mv.tags.get("feature_set_version")
        stale = stale_columns(columns, built_on)
        if stale:  # same column names, other meanings: never a guess
            raise ModelUnavailableError(
                f"{name}{ref} (version {mv.version}) was trained on feature set {built_on}; "
                f"{', '.join(stale)} changed meaning by {FEATURE_SET.version}: retrain "
                "(dosewise train)"
            )
        predictor = RegistryPredictor(name, str(mv.version), model, columns)
        try:
            example = mlflow.models.Model.load(uri).load_input_example(
                mlflow.artifacts.download_artifacts(uri)
            )
        except Exception:
            example = None
        predictor.verify_fast_path(example if isinstance(example, pd.DataFrame) else None)
        loaded[kind] = predictor
        log.info("loaded %s version %s (fast path %s)", name, mv.version, predictor._fast)
    return Models(tolerance=loaded["tolerance"], adherence=loaded["adherence"])
