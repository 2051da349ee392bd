"""The decision counters every recommending endpoint feeds (REST and CDS Hooks alike), kept apart
from `routes` so `serving/cds/routes.py` can import it without a cycle (`routes` mounts the CDS
routes)."""

from __future__ import annotations

from collections.abc import Sequence

from serving.metrics import get_metrics
from serving.policy.result import Recommendation


def count_decisions(endpoint: str, recs: Sequence[Recommendation]) -> None:
    """Count each recommendation's decision and observe its predictions (the live distribution,
    per model version, for monitoring)."""
    counter, hist = get_metrics().recommendations, get_metrics().predictions
    for r in recs:
        counter.labels(decision=r.decision, endpoint=endpoint).inc()
        if r.predictions is not None:
            for kind, p, ref in (
                ("tolerance", r.predictions.tolerance, r.tolerance_model),
                ("adherence", r.predictions.adherence, r.adherence_model),
            ):
                hist.labels(model=kind, version=ref.version).observe(p)
