"""The decision counters every recommending endpoint feeds (REST and CDS Hooks alike), kept apart
from `routes` so `serving/cds/routes.py` can import it without a cycle (`routes` mounts the CDS
routes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from serving.metrics import get_metrics


def count_decisions(endpoint: str, responses: Sequence[Mapping[str, Any]]) -> None:
    """Count each response's decision and observe its predictions (the live distribution)."""
    counter, hist = get_metrics().recommendations, get_metrics().predictions
    for r in responses:
        counter.labels(decision=r["decision"], endpoint=endpoint).inc()
        for kind, p in (r.get("predictions") or {}).items():  # monitoring: live distribution
            hist.labels(model=kind, version=r["model"][kind]["version"]).observe(p)
