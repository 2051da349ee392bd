"""The `simulate-deployment` command: champions from the registry, the policy behind
`POST /recommend_batch`, the production audit writer, a progress bar, atomic outputs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from features.contract.rest import RecommendRequest
from features.settings import Settings
from monitoring.deployment import DeploymentConfig, Plan, run_deployment, write_outputs
from serving.policy.result import Recommendation

BATCH = 256  # the largest POST /recommend_batch


def production_path(settings: Settings, db_url: str, models: Any = None):
    """(recommend, close): the service's policy call, each batch written by the production
    audit writer (audit row + monitoring row, one transaction) when it is to be recorded; the
    monitoring rows carry the predictions of the `delivered` plans when given (shadow mode),
    else of the service's own prescriptions."""
    from serving.audit import AuditWriter, make_record
    from serving.http.work import hash_request, recommend_many
    from serving.monitoring import attach, served_inputs
    from serving.policy import PolicyConfig, response_json

    if models is None:
        from serving.models import load_champions

        models = load_champions(settings)
    cfg = PolicyConfig.from_settings(settings)
    writer = AuditWriter(db_url, retention_days=settings.monitoring_retention_days).start()

    def recommend(
        reqs: list[RecommendRequest], record: bool, delivered: list[Plan] | None = None
    ) -> list[Recommendation]:
        out: list[Recommendation] = []
        for i in range(0, len(reqs), BATCH):
            t0 = time.perf_counter()
            chunk = reqs[i : i + BATCH]
            plans = None if delivered is None else delivered[i : i + BATCH]
            derived: list[Any] = []
            recs = recommend_many(chunk, models, cfg, inputs=derived)
            out.extend(recs)
            if not record:
                continue
            ms = (time.perf_counter() - t0) * 1000
            resps = [response_json(r) for r in recs]
            records = [
                make_record(resp, hash_request(q), ms, "recommend_batch")
                for resp, q in zip(resps, chunk, strict=True)
            ]
            inputs = served_inputs([d.row for d in derived], recs, models, plans)
            writer.submit(attach(records, inputs)).result(timeout=120)
        return out

    return recommend, writer.close


def run_simulate_deployment(
    settings: Settings,
    cfg: DeploymentConfig,
    out: Path,
    db_url: str | None,
    console: Console,
    models: Any = None,
) -> dict[str, Any]:
    """Run the deployment; write the tables to `out` and the rows to `db_url` (default
    `sqlite:///OUT/audit.db`). Returns the summary written to `out/deployment.json`."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{out / 'audit.db'}"
    recommend, close = production_path(settings, url, models)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} weeks"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"deployment ({cfg.shift}, {cfg.mode})", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_deployment(cfg, recommend, advance)
    finally:
        close()
    meta = {
        "shift": cfg.shift,
        "mode": cfg.mode,
        "at_week": cfg.at_week,
        "weeks": cfg.weeks,
        "patients": cfg.patients,
        "seed": cfg.seed,
        "start": cfg.start.isoformat(),
        "until": (cfg.start.toordinal() + 7 * cfg.weeks - 1),
        "db_url": url if url.startswith("sqlite") else "(given)",
        "sessions": len(result["sessions"]),
        "recommendations": sum(w["requests"] for w in result["weeks"]),
    }
    import datetime as dt

    meta["until"] = dt.date.fromordinal(meta["until"]).isoformat()
    write_outputs(out, result, meta)
    return meta | {"weeks_served": result["weeks"]}
