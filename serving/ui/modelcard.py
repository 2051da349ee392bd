"""The model card (ONC HTI-1 source attributes, in spirit): what the models were built on, how
well they do on held-out simulated patients, overall and by subgroup, and where not to use them.

Every number comes from the registry and the MLflow run data of the versions behind an alias
(champion by default), never from this file:
* overall held-out metrics: the model version's tags (written by training with the run);
* subgroup metrics and the calibration curve: the run's held-out rows (`heldout/test.parquet`)
  scored by the registered model itself;
* training data: the run's `data` tag and `seed` param, and the cohort's own summary
  (`calibration.json`) when that folder is readable;
* closed loop: the newest `dosewise-closed-loop` runs of champion models logged after these
  versions were registered (one per scenario);
* guideline version and rule count: the kernel shipped with the code.
Only the intended use and the limitations are prose.

It lives in `serving/` (built from the registry, like the service's models); `dosewise_cli.py`
builds it for `dosewise model-card` and logs it as an artifact of each registered version after
`train`/`promote` (training/ may not import serving/).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import FEATURE_SET
from features.settings import Settings

log = logging.getLogger("dosewise.serving.ui")

HELDOUT = "heldout/test.parquet"
CARD_ARTIFACT_DIR = "model_card"
CLOSED_LOOP = "dosewise-closed-loop"
OVERALL = ("auroc", "brier", "ece", "oracle_auroc", "baseline_auroc", "n_test", "n_train")
CLOSED_LOOP_METRICS = (
    ("vo2peak_change", "VO2peak change (mL/kg/min)"),
    ("strength_change_pct", "Strength change (%)"),
    ("ae_moderate_or_serious_per_100_patients", "Moderate+ adverse events / 100 patients"),
    ("dropout", "Dropout"),
)
SUBGROUPS = (  # (label, function of the held-out feature frame -> boolean mask)
    ("All held-out rows", lambda f: np.ones(len(f), bool)),
    *(
        (f"Cancer: {c.replace('_', ' ')}", lambda f, c=c: f[f"cancer_{c}"].to_numpy() == 1)
        for c in (
            "breast",
            "prostate",
            "colorectal",
            "lung",
            "hematologic",
            "gynecologic",
            "head_neck",
            "other",
        )
    ),
    ("Stage IV", lambda f: f["stage"].to_numpy() == 4),
    ("Stage I-III", lambda f: f["stage"].to_numpy() < 4),
    ("On chemotherapy", lambda f: f["phase_chemotherapy"].to_numpy() == 1),
    ("Not on chemotherapy", lambda f: f["phase_chemotherapy"].to_numpy() == 0),
    ("Age >= 70", lambda f: f["age"].to_numpy() >= 70),
    ("Age < 70", lambda f: f["age"].to_numpy() < 70),
    ("Female", lambda f: f["sex_female"].to_numpy() == 1),
    ("Male", lambda f: f["sex_male"].to_numpy() == 1),
)
MIN_SUBGROUP_ROWS = 30
INTENDED_USE = (
    "Research and education: exploring how a guideline-bounded policy would dose aerobic and "
    "resistance exercise for adults with cancer, and reviewing each recommendation's basis."
)
INTENDED_USERS = (
    "Exercise oncology researchers and qualified professionals (physicians, physiotherapists, "
    "clinical exercise physiologists) reviewing a recommendation, never patients directly."
)
OUT_OF_SCOPE = (
    "Not a medical device; not for diagnosis or treatment decisions without a qualified "
    "professional's independent review.",
    "Not for patients under 18 (the contract refuses them).",
    "Not validated on real patients: trained and evaluated on simulated cohorts only.",
    "Not for settings the simulator does not represent (e.g. intensive care, pregnancy, "
    "paediatric oncology, conditions outside the guideline kernel's rules).",
)
LIMITATIONS = (
    "The simulator's dose-response is the project's own assumption; closed-loop results show "
    "how the policy behaves in that world and under named stress scenarios, not in patients.",
    "Predictions are probabilities for one week of sessions; they say nothing about long-term "
    "outcomes and are calibrated only on simulated held-out patients.",
    "Subgroups with few held-out rows have wide uncertainty; empty subgroups are not shown.",
    "The guideline kernel decides what is allowed; the models only rank doses inside it.",
)


# --- metrics (the definitions training uses: training/evaluate.py) ---------------------------
def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-mass bins: weighted mean |observed rate - mean prediction|."""
    if len(y) == 0:
        return math.nan
    order = np.argsort(p, kind="stable")
    total = sum(
        len(idx) * abs(y[idx].mean() - p[idx].mean())
        for idx in np.array_split(order, bins)
        if len(idx)
    )
    return float(total / len(y))


def subgroup_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    auroc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else math.nan
    return {
        "n": float(len(y)),
        "auroc": auroc,
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "positive_rate": float(np.mean(y)),
    }


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean prediction vs observed rate per equal-mass bin (the calibration plot's points)."""
    order = np.argsort(p, kind="stable")
    return [
        {"predicted": float(p[i].mean()), "observed": float(y[i].mean()), "n": float(len(i))}
        for i in np.array_split(order, bins)
        if len(i)
    ]


# --- registry ----------------------------------------------------------------------------------
def _heldout(client: Any, name: str, version: str, run_id: str) -> dict[str, Any]:
    """Subgroup metrics and calibration bins of one version on its run's held-out rows."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.read_parquet(client.download_artifacts(run_id, HELDOUT, tmp))
    model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    cols = [c.name for c in info.signature.inputs.inputs]
    y = frame["label"].to_numpy(dtype=int)
    p = np.asarray(model.predict_proba(frame[cols])[:, 1], dtype=float)
    groups = []
    for label, select in SUBGROUPS:
        mask = select(frame)
        if mask.sum() >= MIN_SUBGROUP_ROWS:
            groups.append({"group": label, **subgroup_metrics(y[mask], p[mask])})
    return {"subgroups": groups, "calibration": calibration_bins(y, p)}


def _training_data(run: Any) -> dict[str, Any]:
    data_ref = run.data.tags.get("data", "")
    out: dict[str, Any] = {
        "source": Path(data_ref).name or "unknown",
        "seed": run.data.params.get("seed"),
        "simulated": True,
    }
    summary = Path(data_ref) / "calibration.json" if data_ref else None
    if summary is not None and summary.is_file():
        try:
            cal = json.loads(summary.read_text())
            out |= {k: cal.get(k) for k in ("n_patients", "weeks", "n_sessions")}
            out["calibration_ok"] = cal.get("all_ok")
        except (OSError, ValueError):
            pass
    return out


def _closed_loop(client: Any, since_ms: int) -> list[dict[str, Any]]:
    """Newest closed-loop run per scenario of champion models logged since `since_ms`."""
    exp = client.get_experiment_by_name(CLOSED_LOOP)
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"attributes.start_time >= {int(since_ms)}",
        order_by=["attributes.start_time DESC"],
        max_results=200,
    )
    seen: set[str] = set()
    out = []
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        scenario = params.get("scenario", "?")
        if not str(params.get("models", "champion")).startswith("champion") or scenario in seen:
            continue
        seen.add(scenario)
        rows = []
        for key, label in CLOSED_LOOP_METRICS:
            rows.append(
                {
                    "metric": label,
                    "dosewise": metrics.get(f"arms.dosewise.{key}"),
                    "fixed": metrics.get(f"arms.fixed.{key}"),
                    "oracle": metrics.get(f"arms.oracle.{key}"),
                }
            )
        out.append(
            {
                "scenario": scenario,
                "seed": params.get("seed"),
                "patients": params.get("patients"),
                "weeks": params.get("weeks"),
                "run_id": run.info.run_id,
                "rows": rows,
            }
        )
    return sorted(out, key=lambda r: (r["scenario"] != "base", r["scenario"]))


def _features() -> dict[str, Any]:
    import re

    from serving.ui.pagedata import GROUPS

    counts: dict[str, int] = {}
    for col in FEATURE_SET.columns:
        group = next(g for g, pat in GROUPS if re.search(pat, col))
        counts[group] = counts.get(group, 0) + 1
    return {
        "name": FEATURE_SET.name,
        "version": FEATURE_SET.version,
        "count": len(FEATURE_SET.columns),
        "groups": [{"group": g, "count": n} for g, n in counts.items()],
    }


def build_model_card(settings: Settings, alias: str | None = None) -> dict[str, Any] | None:
    """The card of the versions behind `alias` (default: champion); None when missing."""
    from mlflow.exceptions import MlflowException

    from serving.models import ModelUnavailableError, registry_client

    alias = alias or settings.champion_alias
    try:
        client = registry_client(settings)
        versions = tuple(
            client.get_model_version_by_alias(name, alias)
            for name in (settings.tolerance_model_name, settings.adherence_model_name)
        )
    except (MlflowException, ModelUnavailableError):
        return None
    key = tuple((mv.name, str(mv.version)) for mv in versions)
    return _build(settings, alias, key)


_HELDOUT: dict[tuple[str, str, str], dict[str, Any]] = {}


def _heldout_cached(client: Any, uri: str, name: str, version: str, run_id: str) -> dict[str, Any]:
    """`_heldout` once per process and version (scoring the held-out rows takes seconds; a
    registered version never changes). The rest of the card is read fresh on every call."""
    key = (uri, name, version)
    if key not in _HELDOUT:
        _HELDOUT[key] = _heldout(client, name, version, run_id)
    return _HELDOUT[key]


def _build(settings: Settings, alias: str, key: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    from serving.guidelines import kernel as gk
    from serving.models import registry_client

    client = registry_client(settings)
    models = []
    newest = 0
    for kind, (name, version) in zip(("tolerance", "adherence"), key, strict=True):
        mv = client.get_model_version(name, version)
        run = client.get_run(mv.run_id)
        newest = max(newest, int(mv.creation_timestamp or 0))
        overall = {k: float(mv.tags[k]) for k in OVERALL if k in mv.tags}
        models.append(
            {
                "kind": kind,
                "name": name,
                "version": str(version),
                "alias": alias,
                "run_id": mv.run_id,
                "registered": dt.datetime.fromtimestamp(
                    (mv.creation_timestamp or 0) / 1000, dt.UTC
                ).isoformat(timespec="seconds"),
                "calibration_method": mv.tags.get("calibration", "?"),
                "feature_set_version": mv.tags.get("feature_set_version", "?"),
                "overall": overall,
                "training_data": _training_data(run),
                **_heldout_cached(
                    client, str(settings.mlflow_tracking_uri), name, str(version), mv.run_id
                ),
            }
        )
    rules = gk.default_rules()
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "intended_use": INTENDED_USE,
        "intended_users": INTENDED_USERS,
        "out_of_scope": OUT_OF_SCOPE,
        "limitations": LIMITATIONS,
        "models": models,
        "features": _features(),
        "closed_loop": _closed_loop(client, newest),
        "guideline": {"version": str(rules.version), "rules": len(rules.rules)},
    }


def write_model_card(settings: Settings, out: Path, alias: str | None = None) -> dict[str, Any]:
    """Render the card to `out` atomically (a temp file renamed into place)."""
    from serving.ui.render import render_model_card
    from serving.ui.routes import BANNER

    card = build_model_card(settings, alias)
    if card is None:
        raise LookupError(f"no models behind the '{alias or settings.champion_alias}' alias")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_model_card(card, BANNER), encoding="utf-8")
    tmp.replace(out)
    return card


def log_model_cards(settings: Settings) -> list[str]:
    """Log the card as `model_card/model_card.html` of the run of each registered version behind
    the challenger and champion aliases (called by the CLI after `train` and `promote`); lines
    saying what was logged."""
    from mlflow import MlflowClient

    writer = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    done: set[str] = set()
    lines = []
    for alias in (settings.champion_alias, settings.challenger_alias):
        card = build_model_card(settings, alias)
        if card is None:
            continue
        runs = [m["run_id"] for m in card["models"] if m["run_id"] not in done]
        if not runs:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model_card.html"
            write_model_card(settings, path, alias)
            for m in card["models"]:
                if m["run_id"] in runs:
                    writer.log_artifact(m["run_id"], str(path), artifact_path=CARD_ARTIFACT_DIR)
                    done.add(m["run_id"])
                    lines.append(f"model card logged with {m['name']} v{m['version']} ({alias})")
    return lines
