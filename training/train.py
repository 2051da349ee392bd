"""`dosewise train`: examples -> split -> fit -> evaluate -> MLflow (register, alias, promote)."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from features import FEATURE_SET
from features.settings import Settings
from training import registry
from training.cohort import load_or_simulate
from training.evaluate import (
    age_band,
    core_metrics,
    plot_calibration,
    plot_importance,
    subgroup_auroc,
)
from training.examples import Examples, build_adherence_examples, build_tolerance_examples
from training.models import calibrate_if_better, fit_lightgbm, fit_logistic

log = logging.getLogger(__name__)

# Columns the "last sessions" heuristic reads: what a clinician would eyeball.
HEURISTIC_FEATURE = {"tolerance": "tolerated_rate_last5", "adherence": "attendance_rate_28d"}
TEST_SET_ARTIFACT = "heldout/test.parquet"
# Models are stored with skops (no pickle); these are the non-sklearn types it must accept.
SKOPS_TRUSTED_TYPES = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


def pip_requirements() -> list[str]:
    """Pinned runtime requirements of a model, read from this environment (no inference)."""
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("lightgbm", "scikit-learn", "numpy", "pandas")]


@dataclass
class ModelReport:
    kind: str
    metrics: dict[str, float]
    subgroups: dict[str, float]
    calibration: str
    run_id: str
    version: str
    promotion: registry.PromotionDecision | None = None
    extra: dict = field(default_factory=dict)


def split_patients(ids: np.ndarray, seed: int) -> dict[str, set[str]]:
    """Disjoint patient sets: 70% train, 10% calibration, 20% test (deterministic per seed)."""
    uniq = np.array(sorted(set(ids.tolist())))
    perm = np.random.default_rng(seed).permutation(len(uniq))
    n_train, n_cal = int(0.7 * len(uniq)), int(0.1 * len(uniq))
    return {
        "train": set(uniq[perm[:n_train]]),
        "calibration": set(uniq[perm[n_train : n_train + n_cal]]),
        "test": set(uniq[perm[n_train + n_cal :]]),
    }


def _split(
    ex: Examples,
    parts: dict[str, set[str]],
    gate_from: pd.Timestamp | None = None,
    calibration_weeks: int | None = None,
) -> dict[str, Examples]:
    """Rows per part. With `gate_from` (deployment logs): the test rows are the held-out
    patients' weeks from `gate_from` on, everything else is fitted on the weeks before; with
    `calibration_weeks` too, the calibration rows are the last `calibration_weeks` weeks before
    `gate_from` of every non-test patient, and the model is fitted on the weeks before those.
    Why: after a shift only the last weeks are the new world; calibrating on them (out of
    sample: the fit never saw those weeks) brings the probabilities to the world the model will
    serve, while the ranking learns from every earlier week."""
    pid = ex.frame["patient_id"].to_numpy()
    if gate_from is None:
        out = {k: ex.subset(np.isin(pid, list(v))) for k, v in parts.items()}
    else:  # deployment data: test = the most recent weeks; fit only on what came before
        as_of = pd.to_datetime(ex.frame["as_of"])
        recent = (as_of >= gate_from).to_numpy()
        out = {
            k: ex.subset(np.isin(pid, list(v)) & (recent if k == "test" else ~recent))
            for k, v in parts.items()
        }
        if calibration_weeks:
            window = (as_of >= gate_from - pd.Timedelta(weeks=calibration_weeks)).to_numpy()
            window &= ~recent
            known = np.isin(pid, list(parts["train"] | parts["calibration"]))
            out["train"] = ex.subset(np.isin(pid, list(parts["train"])) & ~recent & ~window)
            out["calibration"] = ex.subset(known & window)
    # within training patients, the latest 20% of time early-stops the boosting (split by time)
    tr = out["train"].frame
    cut = tr["as_of"].quantile(0.8)
    out["fit"] = out["train"].subset((tr["as_of"] < cut).to_numpy())
    out["early_stop"] = out["train"].subset((tr["as_of"] >= cut).to_numpy())
    return out


def _groups(frame: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    first = patients.sort_values("as_of").drop_duplicates("patient_id").set_index("patient_id")
    pid = frame["patient_id"]
    mets = first["metastatic_sites"].fillna("").astype(str).reindex(pid).to_numpy()
    return pd.DataFrame(
        {
            "cancer_type": first["cancer_type"].reindex(pid).to_numpy(),
            "ecog": first["ecog"].reindex(pid).astype("Int64").to_numpy(),
            "metastatic": np.where(mets != "", "yes", "no"),
            "age_band": age_band(first["age"].reindex(pid)).to_numpy(),
        }
    )


def fit_and_log(
    kind: str,
    ex: Examples,
    patients: pd.DataFrame,
    parts: dict[str, set[str]],
    settings: Settings,
    seed: int,
    data_ref: str,
    gate_from: pd.Timestamp | None = None,
) -> ModelReport:
    """Fit one model family, evaluate on held-out patients (with `gate_from`: their most
    recent weeks, the promotion gate's rows), log and register it as challenger."""
    recal = settings.promotion_gate_weeks if gate_from is not None else None
    sp = _split(ex, parts, gate_from, recal)
    # Both outcomes can only fall as dose (or ECOG) rises: the policy's monotone search needs it.
    decreasing = frozenset(FEATURE_SET.monotone_decreasing)
    lgbm = fit_lightgbm(
        sp["fit"].X, sp["fit"].y, sp["early_stop"].X, sp["early_stop"].y, decreasing, seed
    )
    model, calibration = calibrate_if_better(lgbm, sp["calibration"].X, sp["calibration"].y)
    logistic = fit_logistic(sp["train"].X, sp["train"].y, seed)
    test = sp["test"]
    p = model.predict_proba(test.X)[:, 1]
    heuristic = test.frame[HEURISTIC_FEATURE[kind]].to_numpy(dtype=float)
    metrics = core_metrics(
        test.y,
        p,
        baseline=logistic.predict_proba(test.X)[:, 1],
        heuristic=np.nan_to_num(heuristic, nan=np.nanmean(heuristic)),
        oracle=test.oracle,
    )
    metrics["n_train"] = float(len(sp["train"].y))
    metrics["best_iteration"] = float(lgbm.best_iteration_ or lgbm.n_estimators)
    subgroups = subgroup_auroc(test.y, p, _groups(test.frame, patients))
    name = settings.tolerance_model_name if kind == "tolerance" else settings.adherence_model_name

    with (
        mlflow.start_run(run_name=f"{kind}-seed{seed}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.set_tags(
            {
                "model_kind": kind,
                "feature_set": FEATURE_SET.name,
                "feature_set_version": FEATURE_SET.version,
                "calibration": calibration,
                "data": data_ref,
                "gate_window": "held-out patients"
                if gate_from is None
                else f"held-out patients, as_of >= {gate_from.date()}",
            }
        )
        mlflow.log_params({"seed": seed, **lgbm.get_params()})
        mlflow.log_metrics({k: v for k, v in {**metrics, **subgroups}.items() if np.isfinite(v)})
        tmpd = Path(tmp)
        plot_calibration(
            test.y, p, test.oracle, f"{kind}: held-out patients", tmpd / "calibration.png"
        )
        plot_importance(
            list(test.feature_columns),
            lgbm.booster_.feature_importance("gain"),
            f"{kind}: feature importance",
            tmpd / "feature_importance.png",
        )
        (tmpd / "metrics.json").write_text(json.dumps({**metrics, **subgroups}, indent=2))
        for f in ("calibration.png", "feature_importance.png", "metrics.json"):
            mlflow.log_artifact(str(tmpd / f), artifact_path="evaluation")
        test_path = tmpd / "test.parquet"
        test.frame.to_parquet(test_path, index=False)
        mlflow.log_artifact(str(test_path), artifact_path="heldout")
        example = test.X.head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict_proba(example)),
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=pip_requirements(),
            registered_model_name=name,
            metadata={"feature_set": FEATURE_SET.name, "feature_set_version": FEATURE_SET.version},
        )
        version = str(info.registered_model_version)
        run_id = run.info.run_id

    client = registry.configure(settings)
    for key, value in {
        "feature_set_version": FEATURE_SET.version,
        "run_id": run_id,
        "calibration": calibration,
        **{k: f"{v:.6f}" for k, v in metrics.items()},
    }.items():
        client.set_model_version_tag(name, version, key, str(value))
    client.set_registered_model_alias(name, settings.challenger_alias, version)
    return ModelReport(kind, metrics, subgroups, calibration, run_id, version)


# A check of the policy's outcomes before the champion pair changes: given the champion's and
# the candidate's (tolerance, adherence) versions, (passed, why). Supplied by the caller
# (`evaluation.promotion.outcome_check`: the closed loop lives downstream of training).
OutcomeCheck = Callable[[tuple[str, str], tuple[str, str]], tuple[bool, str]]


def promote(
    settings: Settings, outcome_check: OutcomeCheck | None = None
) -> list[registry.PromotionDecision]:
    """Move `champion` to each challenger that is no worse on the challenger's held-out rows;
    for a challenger trained on deployment logs (a gate window), only to one that beats the
    champion on those most recent labelled weeks (`registry.decide_on_recent_weeks`). With an
    `outcome_check`, a pair that would change is promoted only if the check passes: the two
    models act together in the policy, so one veto keeps both champions."""
    client = registry.configure(settings)
    decisions: list[registry.PromotionDecision] = []
    references: dict[str, tuple] = {}
    for name in (settings.tolerance_model_name, settings.adherence_model_name):
        decision, reference = _decide(client, name, settings)
        decisions.append(decision)
        if reference is not None:
            references[name] = reference
    if outcome_check is not None:
        decisions = _check_outcomes(decisions, outcome_check)
    for d in decisions:
        if d.promoted:
            registry.store_reference(client, d.model, d.challenger, *references[d.model])
            client.set_registered_model_alias(d.model, settings.champion_alias, d.challenger)
    return decisions


def _check_outcomes(
    decisions: list[registry.PromotionDecision], outcome_check: OutcomeCheck
) -> list[registry.PromotionDecision]:
    """The decisions after the outcome check of the pair they would make (no check when the
    pair does not change or there is no champion pair to compare with)."""
    champion = tuple(d.champion_before for d in decisions)
    candidate = tuple(d.challenger if d.promoted else d.champion_before for d in decisions)
    if None in champion or None in candidate or candidate == champion:
        return decisions
    passed, why = outcome_check(champion, candidate)  # type: ignore[arg-type]
    return [
        replace(
            d,
            promoted=d.promoted and passed,
            reason=f"{d.reason}; closed loop: {why}" if d.promoted else d.reason,
        )
        for d in decisions
    ]


def _decide(
    client, name: str, settings: Settings
) -> tuple[registry.PromotionDecision, tuple | None]:
    """The metric gate for one model (nothing applied) and, when it passes, the challenger's
    reference distributions for monitoring."""
    chall = registry.alias_version(client, name, settings.challenger_alias)
    champ = registry.alias_version(client, name, settings.champion_alias)
    if chall is None:
        return registry.PromotionDecision(name, False, "no challenger", None, champ), None
    if champ == chall:
        return registry.PromotionDecision(
            name, False, "challenger is already champion", chall, champ
        ), None
    mv = client.get_model_version(name, chall)
    local = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=TEST_SET_ARTIFACT)
    test = pd.read_parquet(local)
    y = test["label"].to_numpy(dtype=int)
    gate = client.get_run(mv.run_id).data.tags.get("gate_window", "")
    recent = gate.startswith("held-out patients, as_of >=")  # trained on deployment logs
    scores = {}
    preds: dict[str, np.ndarray] = {}
    reason_extra = ""
    reference = None
    for role, ver in (("challenger", chall), ("champion", champ)):
        if ver is None:
            continue
        cols = _feature_columns(client, name, ver)
        if cols is None or not set(cols) <= set(test.columns):
            reason_extra = f" (champion v{ver} uses another feature set; not comparable)"
            continue
        m = mlflow.sklearn.load_model(f"models:/{name}/{ver}")
        p = m.predict_proba(test[list(cols)])[:, 1]
        scores[role] = core_metrics(y, p, baseline=p, heuristic=p, oracle=p)
        preds[role] = p
        if role == "challenger":
            reference = (test[list(cols)], p)
    if recent:  # deployment logs: the challenger must beat the champion on recent weeks
        ok, reason = registry.decide_on_recent_weeks(y, preds["challenger"], preds.get("champion"))
    else:
        ok, reason = registry.decide(scores["challenger"], scores.get("champion"))
    decision = registry.PromotionDecision(name, ok, reason + reason_extra, chall, champ)
    return decision, reference if ok else None


def _feature_columns(client, name: str, version: str) -> list[str] | None:
    mv = client.get_model_version(name, version)
    if mv.tags.get("feature_set_version") != FEATURE_SET.version:
        return None
    info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    return [c.name for c in info.signature.inputs.inputs]


def run_training(
    settings: Settings,
    data: Path | None = None,
    seed: int = 21,
    do_promote: bool = True,
    outcome_check: OutcomeCheck | None = None,
    console: Console | None = None,
    gate_weeks: int | None = None,
) -> dict:
    """The whole training job; returns a JSON-able summary.

    `gate_weeks`: hold out the most recent weeks (of the held-out patients) as the test rows the
    promotion gate compares challenger and champion on, and fit on the weeks before. Default:
    `settings.promotion_gate_weeks` for deployment logs (a folder written by
    `simulate-deployment`, or any folder with `deployment.json`), the patient split otherwise."""
    console = console or Console(stderr=True)
    registry.configure(settings)
    patients, sessions, data_ref = load_or_simulate(settings, data, seed, console)
    parts = split_patients(patients["patient_id"].to_numpy(), seed)
    if gate_weeks is None and data is not None and (Path(data) / "deployment.json").exists():
        gate_weeks = settings.promotion_gate_weeks
    gate_from = None
    if gate_weeks:
        last = pd.to_datetime(patients["as_of"]).max()
        gate_from = last.normalize() - pd.Timedelta(weeks=gate_weeks - 1)
        console.print(
            f"promotion gate on the most recent {gate_weeks} week(s): as_of >= {gate_from.date()}"
        )
    reports = []
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        for kind, builder in (
            ("tolerance", build_tolerance_examples),
            ("adherence", build_adherence_examples),
        ):
            task = progress.add_task(f"{kind}: building examples", total=None)
            ex = builder(patients, sessions)
            progress.update(task, description=f"{kind}: fitting on {len(ex.frame):,} examples")
            reports.append(
                fit_and_log(kind, ex, patients, parts, settings, seed, data_ref, gate_from)
            )
            progress.update(task, description=f"{kind}: done (v{reports[-1].version})")
    decisions = promote(settings, outcome_check) if do_promote else []
    for d in decisions:
        for r in reports:
            if d.challenger == r.version and d.model.endswith(r.kind):
                r.promotion = d
    summary = summarize(reports, data_ref, seed)
    summary["gate_from"] = None if gate_from is None else str(gate_from.date())
    return summary


def summarize(reports: list[ModelReport], data_ref: str, seed: int) -> dict:
    return {
        "data": data_ref,
        "seed": seed,
        "feature_set": {"name": FEATURE_SET.name, "version": FEATURE_SET.version},
        "models": {
            r.kind: {
                "version": r.version,
                "run_id": r.run_id,
                "calibration": r.calibration,
                "metrics": r.metrics,
                "subgroups": r.subgroups,
                "promotion": None
                if r.promotion is None
                else {"promoted": r.promotion.promoted, "reason": r.promotion.reason},
            }
            for r in reports
        },
    }


def print_summary(summary: dict, console: Console) -> None:
    table = Table(title=f"Dosewise training (feature set {summary['feature_set']['version']})")
    table.add_column("metric")
    kinds = list(summary["models"])
    for k in kinds:
        table.add_column(k, justify="right")
    for metric in (
        "auroc",
        "oracle_auroc",
        "baseline_auroc",
        "heuristic_auroc",
        "brier",
        "ece",
        "n_test",
        "n_train",
    ):
        table.add_row(
            metric,
            *[f"{summary['models'][k]['metrics'].get(metric, float('nan')):.4f}" for k in kinds],
        )
    table.add_row("version", *[summary["models"][k]["version"] for k in kinds])
    table.add_row("calibration", *[summary["models"][k]["calibration"] for k in kinds])
    table.add_row(
        "promoted",
        *[
            "-"
            if summary["models"][k]["promotion"] is None
            else ("yes" if summary["models"][k]["promotion"]["promoted"] else "no")
            for k in kinds
        ],
    )
    console.print(table)
    for k in kinds:
        promo = summary["models"][k]["promotion"]
        if promo:
            console.print(f"[bold]{k}[/]: {promo['reason']}")
