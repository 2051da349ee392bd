"""Cost of one recommendation in process vs the raw model predictions it makes.

    uv run python benchmarks/policy.py [--root DIR] [--n 500]

Uses the champions of DIR's registry (default: the project's), or trains small ones first.
The request is the contract example. Goal (issue 10): p50 at most 3 ms. Also prints the
recommendation's CPU time, which a loaded (shared) machine inflates far less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _common import ROOT, pct, settings_with_champions, time_calls


class Counting:
    """A Predictor wrapper that records how many rows each call scores."""

    def __init__(self, inner) -> None:
        self.inner, self.rows = inner, []
        self.name, self.version = inner.name, inner.version

    def predict(self, X):
        self.rows.append(len(X))
        return self.inner.predict(X)

    def explain(self, X):
        return self.inner.explain(X)


def cpu_calls(fn, n: int, warmup: int = 5) -> np.ndarray:
    """CPU time of this thread for n calls in milliseconds (what load inflates least)."""
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t = time.thread_time()
        fn()
        out[i] = (time.thread_time() - t) * 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()

    import pandas as pd

    from features import FEATURE_SET, build
    from features.contract.convert import requests_to_columns
    from features.contract.rest import RecommendRequest
    from features.pipeline import build_rows
    from serving.models import load_champions
    from serving.policy import Models, PolicyConfig, recommend
    from tests.frames import request_to_frames

    settings = settings_with_champions(args.root)
    models = load_champions(settings)
    body = json.loads((ROOT / "tests" / "fixtures" / "recommend-request.json").read_text())
    req = RecommendRequest.model_validate(body)
    patients, sessions = request_to_frames(req)
    p_cols, s_cols = requests_to_columns([req])  # the REST service's input to the policy
    cfg = PolicyConfig()

    rec = time_calls(lambda: recommend(p_cols, s_cols, req.as_of, models, cfg), args.n)
    rec_cpu = cpu_calls(lambda: recommend(p_cols, s_cols, req.as_of, models, cfg), args.n)
    rec_df = time_calls(lambda: recommend(patients, sessions, req.as_of, models, cfg), args.n)
    conv = time_calls(lambda: requests_to_columns([req]), args.n)
    # the raw predictions one recommendation makes: count the rows each model is asked about
    # (two scoring stages: per-modality options, then whole weeks), then time just those
    counted = Models(tolerance=Counting(models.tolerance), adherence=Counting(models.adherence))
    recommend(p_cols, s_cols, req.as_of, counted, cfg)
    base = build(patients, sessions, pd.Timestamp(req.as_of))
    row = base[list(FEATURE_SET.columns)].to_numpy(dtype=float)
    calls = [np.repeat(row, k, axis=0) for k in counted.tolerance.rows]
    print(f"rows scored per recommendation: {sum(counted.tolerance.rows)} per model")

    def raw() -> None:
        for x in calls:
            models.tolerance.predict(x)
            models.adherence.predict(x)

    pred = time_calls(raw, args.n)
    feats = time_calls(lambda: build_rows(p_cols, s_cols, pd.Timestamp(req.as_of)), args.n)
    print(
        f"models: {models.tolerance.name} v{models.tolerance.version}, "
        f"{models.adherence.name} v{models.adherence.version}"
    )
    print(f"one recommendation (in process)  {pct(rec)}   (numpy columns: the REST path)")
    print(
        f"  its CPU time (this thread)     {pct(rec_cpu)}   (load {os.getloadavg()[0]:.2f}: "
        "wall time waits for a core on a shared machine, CPU time much less)"
    )
    print(f"  same from DataFrames           {pct(rec_df)}   (the batch input form)")
    print(f"request -> numpy columns         {pct(conv)}")
    print(f"raw model predictions it makes   {pct(pred)}")
    print(f"feature build (history, 1 pt)    {pct(feats)}")
    print(
        "ratio recommendation / raw predictions (p50): "
        f"{np.percentile(rec, 50) / np.percentile(pred, 50):.1f}x"
    )


if __name__ == "__main__":
    main()
