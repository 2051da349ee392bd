"""Does a simulated cohort reproduce the published figures? The calibration table and cohort files.

Each row compares one simulated figure with its target range from `training.sim_params.TARGETS`
(guidelines.md section 8 or a marked project assumption). Works on any cohort with the contract
columns; truth columns (true_*, p_tolerate) are used when present.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.io import write_atomic
from training.sim_params import TARGETS
from training.simulator.rules import hold_mask, refer_mask, tolerated_label

STOP_WEEK = 12  # "stopped for good by week 12"
FOLLOW_UP_WEEKS = 4  # weeks after the horizon needed to call a stop "for good"


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve by ranks (ties averaged); NaN with one class only."""
    score, label = np.asarray(score, float), np.asarray(label, float)
    ok = ~np.isnan(score) & ~np.isnan(label)
    score, label = score[ok], label[ok].astype(bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _row(metric: str, key: str, value: float, scale: float = 1.0, note: str = "") -> dict[str, Any]:
    t = TARGETS[key]
    low, high = t.low * scale, t.high * scale
    ok = bool(not math.isnan(value) and low <= value <= high)
    return {
        "metric": metric,
        "value": None if math.isnan(value) else round(float(value), 4),
        "low": round(low, 4),
        "high": round(high, 4),
        "target": f"{low:.3g}-{high:.3g}",
        "source": t.source + (f" ({note})" if note else ""),
        "ok": ok,
    }


def _week_index(dates: pd.Series, start: pd.Timestamp) -> np.ndarray:
    return ((pd.to_datetime(dates) - start).dt.days // 7).to_numpy()


def calibration_report(patients: pd.DataFrame, sessions: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of (metric, simulated value, target range, source, ok) for the calibration table."""
    rows: list[dict[str, Any]] = []
    p = patients.copy()
    p["as_of"] = pd.to_datetime(p["as_of"])
    start = p["as_of"].min()
    weeks = int(p["as_of"].nunique())
    p["week"] = _week_index(p["as_of"], start)
    s = sessions.copy()
    s["week"] = _week_index(s["date"], start)
    s["attended"] = s["attended"].astype(bool)
    n_pat = p["patient_id"].nunique()
    first = p[p["week"] == 0]

    rows.append(_row("attendance of planned sessions", "attendance", s["attended"].mean()))

    horizon = min(STOP_WEEK, weeks - FOLLOW_UP_WEEKS)
    if horizon >= 2:
        last = s[s["attended"]].groupby("patient_id")["week"].max()
        last = last.reindex(p["patient_id"].unique()).fillna(-1)
        stopped = float((last + 1 < horizon).mean())  # 1-based last attended week <= horizon-1
        scale = horizon / STOP_WEEK
        note = "" if horizon == STOP_WEEK else f"week {horizon}, target scaled by {scale:.2f}"
        rows.append(
            _row(f"stopped for good by week {horizon}", "stopped_by_week_12", stopped, scale, note)
        )

    if "true_sarcopenia" in first:
        sarc = first["true_sarcopenia"].astype(float).mean()
    else:
        sarc = first["sarcopenia"].astype("Float64").dropna().astype(float).mean()
    rows.append(_row("sarcopenia prevalence", "sarcopenia", float(sarc)))

    ser = s.loc[s["adverse_event"] == "serious", "patient_id"].nunique() / max(n_pat, 1)
    rows.append(_row("patients with a serious AE", "serious_ae_patients", ser))

    breast = first.loc[first["cancer_type"] == "breast", "vo2peak_ml_kg_min"]
    rows.append(_row("breast baseline VO2peak (mL/kg/min)", "breast_vo2peak", breast.mean()))

    att = s[s["attended"]]
    label = tolerated_label(att)
    rows.append(_row("tolerated share of attended sessions", "tolerance_rate", label.mean()))
    if "p_tolerate" in att:
        rows.append(
            _row(
                "AUROC of p_tolerate (oracle)", "p_tolerate_auroc", auroc(att["p_tolerate"], label)
            )
        )
    n_att = max(len(att), 1)
    rows.append(
        _row(
            "mild AE per attended session",
            "mild_ae_rate",
            (att["adverse_event"] == "mild").sum() / n_att,
        )
    )
    rows.append(
        _row(
            "moderate AE per attended session",
            "moderate_ae_rate",
            (att["adverse_event"] == "moderate").sum() / n_att,
        )
    )

    chemo = p.dropna(subset=["days_since_infusion", "fatigue"])
    if len(chemo):
        curve = chemo.groupby(chemo["days_since_infusion"].astype(int))["fatigue"].mean()
        curve = curve.reindex(range(int(curve.index.max()) + 1))
        smooth = curve.rolling(3, center=True, min_periods=1).mean()
        peak_day = float(smooth.iloc[1:].idxmax())
        rows.append(_row("fatigue peak, days after infusion", "fatigue_peak_day", peak_day))
        rise = float(smooth.max() - curve.iloc[0])
        rows.append(_row("fatigue rise at peak vs infusion day", "fatigue_rise", rise))

    vo2_col = "true_vo2peak" if "true_vo2peak" in p else "vo2peak_ml_kg_min"
    h = min(STOP_WEEK, weeks - 1)
    if h >= 2:
        plan = s[s["week"] < h].groupby("patient_id")["attended"].agg(["size", "mean"])
        adherent = plan.index[(plan["mean"] >= 0.8) & (plan["size"] >= 2 * h)]
        v0 = first.set_index("patient_id")[vo2_col]
        vh = p[p["week"] == h].set_index("patient_id")[vo2_col]
        change = (vh - v0).reindex(adherent).dropna()
        scale = h / STOP_WEEK
        note = f"{len(change)} adherent patients" + ("" if h == STOP_WEEK else f"; {h} wk, scaled")
        rows.append(
            _row(
                f"VO2peak change over {h} wk, adherent",
                "vo2_change_12wk",
                change.mean(),
                scale,
                note,
            )
        )

    serious = s[s["adverse_event"] == "serious"][["patient_id", "date"]]
    recent = np.zeros(len(p), dtype=bool)
    if len(serious):
        m = p[["patient_id", "as_of"]].reset_index().merge(serious, on="patient_id")
        m = m[(m["date"] < m["as_of"]) & (m["date"] >= m["as_of"] - pd.Timedelta(days=7))]
        recent[p.index.get_indexer(m["index"].unique())] = True
    rows.append(
        _row("patient-weeks meeting a hold condition", "hold_weeks", hold_mask(p, recent).mean())
    )
    rows.append(
        _row("patient-weeks meeting a refer condition", "refer_weeks", refer_mask(p).mean())
    )
    return rows


def print_calibration(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """The calibration table, misses in red."""
    console = console or Console()
    table = Table(title="Simulator calibration (guidelines.md section 8)")
    for col, just in (("metric", "left"), ("simulated", "right"), ("target", "right")):
        table.add_column(col, justify=just)
    table.add_column("ok", justify="center")
    table.add_column("source", overflow="fold")
    for r in rows:
        value = "n/a" if r["value"] is None else f"{r['value']:.3f}"
        ok = "[green]yes[/]" if r["ok"] else "[bold red]MISS[/]"
        style = None if r["ok"] else "red"
        table.add_row(r["metric"], value, r["target"], ok, r["source"], style=style)
    console.print(table)
    misses = [r["metric"] for r in rows if not r["ok"]]
    if misses:
        console.print(f"[bold red]{len(misses)} target(s) missed:[/] " + "; ".join(misses))


def write_cohort(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    out_dir: Path,
    rows: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Write patients.parquet, sessions.parquet and calibration.json, each atomically."""
    out_dir = Path(out_dir)
    rows = calibration_report(patients, sessions) if rows is None else rows
    meta = {
        "n_patients": int(patients["patient_id"].nunique()),
        "weeks": int(patients["as_of"].nunique()),
        "n_sessions": len(sessions),
        "all_ok": all(r["ok"] for r in rows),
        "rows": rows,
    }

    def readable(write: Callable[[Path], object]) -> Callable[[Path], None]:
        def go(tmp: Path) -> None:
            write(tmp)
            os.chmod(tmp, 0o644)  # temp files are created 0600; cohorts are shared data

        return go

    write_atomic(
        out_dir / "patients.parquet", readable(lambda t: patients.to_parquet(t, index=False))
    )
    write_atomic(
        out_dir / "sessions.parquet", readable(lambda t: sessions.to_parquet(t, index=False))
    )
    text = json.dumps(meta, indent=2) + "\n"
    write_atomic(out_dir / "calibration.json", readable(lambda t: t.write_text(text)))
    return rows
