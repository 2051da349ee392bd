"""Benchmark of `features.build`: one vectorised call vs a naive per-patient loop.

    uv run python benchmarks/features.py [--patients 100000] [--sessions 50] [--loop 1000]

Prints time and rows/s for a batch (all patients at one scalar as_of, about 50 sessions each),
for a naive loop calling `build` once per patient (on a subset, scaled up), their ratio, and the
REST-shaped call (one patient, ~50 sessions, ~30 candidate doses). Data are synthetic
(`tests/synth.py`), generated with numpy in a few seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import build  # noqa: E402
from tests.synth import synth_cohort  # noqa: E402

AS_OF = pd.Timestamp("2026-04-01")


def _rest_candidates(patient_id: str, n: int = 30) -> pd.DataFrame:
    """~30 candidate rows as the policy sends them: aerobic, resistance and whole-week rows."""
    k = n // 3
    plan = pd.DataFrame(
        {
            "aerobic_sessions": np.arange(k) % 5 + 1,
            "aerobic_minutes": 20.0 + np.arange(k),
            "aerobic_pct_hrmax": 55.0 + np.arange(k),
            "resistance_sessions": 2,
            "resistance_sets": 2.0,
            "resistance_reps": 12.0,
            "resistance_pct_1rm": 45.0 + np.arange(k),
        }
    )
    plan.insert(0, "as_of", AS_OF)
    plan.insert(0, "patient_id", patient_id)
    parts = [plan.assign(modality=m) for m in ("aerobic", "resistance", None)]
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--sessions", type=float, default=50.0, help="mean sessions per patient")
    ap.add_argument("--loop", type=int, default=1_000, help="patients in the naive loop")
    args = ap.parse_args()

    t0 = time.perf_counter()
    patients, sessions = synth_cohort(args.patients, args.sessions, seed=7)
    print(
        f"synthetic cohort: {len(patients):,} patients, {len(sessions):,} sessions "
        f"({time.perf_counter() - t0:.1f} s to generate)"
    )

    t0 = time.perf_counter()
    frame = build(patients, sessions, AS_OF)
    batch = time.perf_counter() - t0
    print(
        f"batch build:      {batch:8.2f} s  {len(frame) / batch:12,.0f} patients/s  "
        f"{len(sessions) / batch:12,.0f} session rows/s  -> {frame.shape}"
    )

    # naive: one call per patient (what a loop over REST-style calls would cost)
    ids = patients["patient_id"].to_numpy()[: args.loop]
    sub_p = patients[patients["patient_id"].isin(ids)]
    sub_s = sessions[sessions["patient_id"].isin(ids)]
    by_p = dict(tuple(sub_p.groupby("patient_id", sort=False)))
    by_s = dict(tuple(sub_s.groupby("patient_id", sort=False)))
    empty = sessions.iloc[:0]
    t0 = time.perf_counter()
    for pid in ids:
        build(by_p[pid], by_s.get(pid, empty), AS_OF)
    loop = time.perf_counter() - t0
    scaled = loop * args.patients / len(ids)
    print(
        f"naive loop:       {loop:8.2f} s for {len(ids):,} patients "
        f"({len(ids) / loop:,.0f} patients/s) -> {scaled:,.0f} s scaled to {args.patients:,}"
    )
    print(f"speed-up of one vectorised call over the loop: {scaled / batch:,.0f}x")

    # the REST shape: one patient, ~50 sessions, 30 candidates
    pid = ids[0]
    p1, s1 = by_p[pid], by_s.get(pid, empty)
    keys = pd.DataFrame({"patient_id": [pid], "as_of": [AS_OF]})
    cands = _rest_candidates(pid)
    build(p1, s1, keys, candidates=cands)
    reps = 300
    t0 = time.perf_counter()
    for _ in range(reps):
        build(p1, s1, keys, candidates=cands)
    per_call = (time.perf_counter() - t0) / reps
    print(
        f"REST call:        {per_call * 1e3:8.2f} ms  (1 patient, {len(s1)} sessions, "
        f"{len(cands)} candidates)"
    )


if __name__ == "__main__":
    main()
