"""CDS card acceptance in `/metrics`, computed at scrape time from the feedback table.

Counted from the database (feedback joined to the audit trail by card uuid), not in a worker's
memory: the numbers are the same whichever worker answers the scrape, and survive restarts.
Labels are bounded: decisions are the contract's five, rule ids come from the rule file (every
audit row's rules were written by the kernel).

* `dosewise_cds_feedback_total{scope="decision"|"rule", key, outcome}`: outcomes reported;
* `dosewise_cds_acceptance_rate{scope, key}`: accepted / (accepted + overridden).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("dosewise.cds.metrics")


class AcceptanceCollector:
    """A prometheus_client custom collector over `CdsStore.acceptance()`."""

    def __init__(self, store: Callable[[], Any]) -> None:
        self._store = store  # returns the current CdsStore, or None before the service starts

    def collect(self) -> Iterator[Any]:
        store = self._store()
        counts = {"decision": {}, "rule": {}}
        if store is not None:
            try:
                counts = store.acceptance()
            except SQLAlchemyError as exc:
                log.warning("CDS acceptance metrics unavailable (%s)", type(exc).__name__)
        total = CounterMetricFamily(
            "dosewise_cds_feedback",
            "CDS card feedback outcomes, by the card's decision or by each rule that fired",
            labels=["scope", "key", "outcome"],
        )
        rate = GaugeMetricFamily(
            "dosewise_cds_acceptance_rate",
            "Accepted / (accepted + overridden) CDS cards, by decision or by rule",
            labels=["scope", "key"],
        )
        for scope, per_key in counts.items():
            for key, outcomes in sorted(per_key.items()):
                for outcome in ("accepted", "overridden"):
                    total.add_metric([scope, key, outcome], outcomes.get(outcome, 0))
                n = outcomes.get("accepted", 0) + outcomes.get("overridden", 0)
                if n:
                    rate.add_metric([scope, key], outcomes.get("accepted", 0) / n)
        yield total
        yield rate
