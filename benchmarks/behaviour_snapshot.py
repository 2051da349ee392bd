"""Write what users see (REST responses, a batch output, a short closed-loop JSON) to a folder, so
two commits can be compared with `diff -r`: a refactoring must leave every byte alone.

    uv run python benchmarks/behaviour_snapshot.py --champion /tmp/policyroot5k --out /tmp/snap-new
    diff -r /tmp/snap-old /tmp/snap-new

The champion's folder is copied to a temporary root first (nothing is written into it). Runs only
through entry points that exist on both sides of a refactoring: `serving.http.runtime.configure` +
`serving.service.asgi_app` (in process), and the `dosewise score` / `evaluate-policy` commands.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "snapshot-key-0123456789"


def request_variants(base: dict) -> dict[str, dict]:
    """The fixture and a few variations that reach other corners (vigorous, hold, refer, new)."""
    out = {"fixture": base}
    fit = copy.deepcopy(base)
    fit["patient"].update(treatment_phase="post_treatment", days_since_infusion=None, ecog=0)
    fit["patient"]["comorbidities"] = []
    fit["patient"]["resistance_experience"] = "experienced"
    fit["current_prescription"]["aerobic"]["intensity_pct_hrmax"] = {"low": 72, "high": 76}
    out["fit_survivor"] = fit
    hold = copy.deepcopy(base)
    hold["patient"]["labs"]["platelets_10e9_l"] = 15
    out["hold"] = hold
    refer = copy.deepcopy(base)
    refer["patient"]["ecog"] = 3
    out["refer"] = refer
    new = copy.deepcopy(base)
    new["sessions"] = []
    new.pop("current_prescription")
    out["new_patient"] = new
    return out


def write_rest(root: Path, out: Path) -> None:
    """POST every variant to /recommend, all of them to /recommend_batch, and a /predict."""
    from starlette.testclient import TestClient

    from features.settings import Settings
    from serving.http.runtime import RUNTIME, configure
    from serving.service import asgi_app

    base = json.loads((ROOT / "tests" / "fixtures" / "recommend-request.json").read_text())
    variants = request_variants(base)
    configure(settings=Settings(root=root, api_keys=KEY))
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as client:
            for name, body in variants.items():
                resp = client.post("/recommend", json=body, headers=auth)
                dump(out / f"rest-{name}.json", {"status": resp.status_code, "body": resp.json()})
            resp = client.post("/recommend_batch", json=list(variants.values()), headers=auth)
            dump(out / "rest-batch.json", {"status": resp.status_code, "body": resp.json()})
            predict = {
                "patient": base["patient"],
                "sessions": base["sessions"],
                "as_of": base["as_of"],
                "candidates": [
                    {
                        "aerobic_sessions": 3,
                        "aerobic_minutes": 30,
                        "aerobic_pct_hrmax": 65,
                        "resistance_sessions": 2,
                        "resistance_sets": 2,
                        "resistance_reps": 12,
                        "resistance_pct_1rm": 50,
                    },
                    {
                        "aerobic_sessions": 4,
                        "aerobic_minutes": 40,
                        "aerobic_pct_hrmax": 72,
                        "resistance_sessions": 0,
                        "resistance_sets": 0,
                        "resistance_reps": 0,
                        "resistance_pct_1rm": 0,
                    },
                ],
            }
            resp = client.post("/predict", json=predict, headers=auth)
            dump(out / "rest-predict.json", {"status": resp.status_code, "body": resp.json()})
            for name, path in (
                ("recommend", "/recommend"),
                ("predict", "/predict"),
            ):
                example = json.loads(
                    (
                        ROOT / "features" / "contract" / "examples" / f"{name}-request.json"
                    ).read_text()
                )
                resp = client.post(path, json=example, headers=auth)
                dump(
                    out / f"rest-example-{name}.json",
                    {"status": resp.status_code, "body": resp.json()},
                )
    finally:
        RUNTIME.close()


# A review link names a random page id and an expiry from the clock: stable placeholders instead.
REVIEW_LINK = re.compile(r"/ui/recommendations/[0-9a-f]{32}\?exp=\d+&sig=[0-9a-f]{64}")


def dump(path: Path, obj: object) -> None:
    text = json.dumps(obj, indent=1, sort_keys=True, default=str)
    path.write_text(REVIEW_LINK.sub("/ui/recommendations/PAGE?exp=EXP&sig=SIG", text) + "\n")


def run_cli(args: list[str], root: Path) -> str:
    env = dict(os.environ, DOSEWISE_ROOT=str(root))
    done = subprocess.run(
        [sys.executable, "-m", "dosewise_cli", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"dosewise {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def write_batch(root: Path, out: Path) -> None:
    """Simulate 60 patients x 6 weeks, score them, write the scores as sorted CSV."""
    import pandas as pd

    cohort = root / "snap-cohort"
    run_cli(
        ["simulate", "--patients", "60", "--weeks", "6", "--seed", "5", "--out", str(cohort)], root
    )
    scores = root / "snap-scores.parquet"
    run_cli(["score", str(cohort), "--out", str(scores), "--as-of", "2026-03-01"], root)
    frame = pd.read_parquet(scores)
    frame = frame.sort_values(list(frame.columns[:1])).reset_index(drop=True)
    frame.to_csv(out / "batch-scores.csv", index=False)


def write_closed_loop(root: Path, out: Path) -> None:
    text = run_cli(
        [
            "evaluate-policy",
            "--patients",
            "200",
            "--weeks",
            "6",
            "--seed",
            "3",
            "--json",
            "--no-mlflow",
        ],
        root,
    )
    start = text.index("{")
    result = json.loads(text[start:])
    result.pop("seconds", None)  # wall-clock time of the run
    (out / "closed-loop.json").write_text(json.dumps(result, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--champion", type=Path, required=True, help="root with data/ and mlruns/")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--skip-loop", action="store_true", help="skip the closed loop (slowest)")
    args = ap.parse_args()
    from features.settings import apply_offline_environment

    apply_offline_environment()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dosewise-snap-") as tmp:
        root = Path(tmp)
        shutil.copytree(args.champion / "mlruns", root / "mlruns")
        (root / "data").mkdir()
        write_rest(root, args.out)
        write_batch(root, args.out)
        if not args.skip_loop:
            write_closed_loop(root, args.out)
    print(f"snapshot written to {args.out}")


if __name__ == "__main__":
    main()
