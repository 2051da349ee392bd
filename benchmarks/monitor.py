"""Benchmark of `dosewise monitor` on 100,000 recommendations (issue #15: < 30 s).

    uv run python benchmarks/monitor.py --root <root with champions> --deployment <dir>
    uv run python benchmarks/monitor.py                   # trains and simulates small ones first

The rows are those of a real simulated deployment (`simulate-deployment --out DIR`, written by
the production audit writer), replicated with new patient ids up to `--rows` into a fresh SQLite
monitoring table, with their logged sessions replicated alike, so every row has labels and the
join, drift and performance code does its full work. Printed: the monitor's wall time end to
end (read, label, drift, performance, verdict), the per-row cost, and the ratio to the bare read
of the same rows measured in the same run (the floor any monitor pays), plus the HTML report.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import settings_with_champions


def replicate(source: Path, target: Path, rows: int) -> tuple[dt.date, dt.date, int]:
    """Copy the deployment's monitoring rows (and sessions) with new ids up to `rows` rows."""
    from serving.audit import create_schema, make_engine
    from serving.monitoring import monitoring_log

    src = make_engine(f"sqlite:///{source / 'audit.db'}")
    with src.connect() as conn:
        base = [dict(r._mapping) for r in conn.execute(select(monitoring_log))]
    src.dispose()
    sessions = pd.read_parquet(source / "sessions.parquet")
    copies = -(-rows // len(base))
    dst = make_engine(f"sqlite:///{target / 'audit.db'}")
    create_schema(dst)
    out_sessions = []
    written = 0
    with dst.begin() as conn:
        for k in range(copies):
            batch = []
            for r in base[: rows - written]:
                row = {c: v for c, v in r.items() if c != "id"}
                row["patient_id"] = f"{r['patient_id']}-{k}"
                row["seq"] = r["seq"] + k * len(base)
                batch.append(row)
            conn.execute(insert(monitoring_log), batch)
            written += len(batch)
            out_sessions.append(sessions.assign(patient_id=sessions["patient_id"] + f"-{k}"))
    dst.dispose()
    pd.concat(out_sessions, ignore_index=True).to_parquet(target / "sessions.parquet")
    as_of = sorted({r["as_of"] for r in base})
    return dt.date.fromisoformat(as_of[0]), dt.date.fromisoformat(as_of[-1]), written


def main(
    root: Annotated[Path | None, typer.Option(help="Project root with champion models")] = None,
    deployment: Annotated[
        Path | None, typer.Option(help="A simulate-deployment output folder to replicate")
    ] = None,
    rows: Annotated[int, typer.Option(min=1000)] = 100_000,
) -> None:
    from features import FEATURE_SET
    from monitoring.report import write_report
    from monitoring.run import run_monitor
    from monitoring.store import read_recommendations
    from serving.audit import make_engine

    settings = settings_with_champions(root)
    with tempfile.TemporaryDirectory(prefix="dosewise-monitor-bench-") as tmp:
        tmpd = Path(tmp)
        if deployment is None:
            from rich.console import Console

            from monitoring.deployment import DeploymentConfig
            from monitoring.simulate import run_simulate_deployment

            deployment = tmpd / "deployment"
            cfg = DeploymentConfig(patients=400, weeks=6)
            run_simulate_deployment(settings, cfg, deployment, None, Console(stderr=True))
        data = tmpd / "bench"
        data.mkdir()
        t0 = time.perf_counter()
        since, until, n = replicate(deployment, data, rows)
        print(
            f"prepared {n:,} recommendations ({since} .. {until}) in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        url = f"sqlite:///{data / 'audit.db'}"

        engine = make_engine(url)
        t0 = time.perf_counter()
        recs, _ = read_recommendations(engine, since, until, FEATURE_SET.columns)
        t_read = time.perf_counter() - t0
        engine.dispose()

        t0 = time.perf_counter()
        result = run_monitor(settings, since, until, data, url)
        t_monitor = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_report(data / "report.html", result)
        t_report = time.perf_counter() - t0
    figures = {
        "rows": len(recs),
        "labelled_sessions": result["labelled_sessions"],
        "monitor_s": round(t_monitor, 2),
        "per_row_us": round(1e6 * t_monitor / len(recs), 1),
        "read_only_s": round(t_read, 2),
        "monitor_over_read": round(t_monitor / t_read, 2),
        "report_s": round(t_report, 2),
        "status": result["status"],
        "goal_s": 30,
    }
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    typer.run(main)
