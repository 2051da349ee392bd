"""Per-feature fingerprints of a fixed synthetic cohort: what catches a feature whose computation
changed while its `Feature.since` did not.

Why: serving refuses a champion that reads a feature whose meaning changed after it was trained
(`features.registry.stale_columns`), but only if `since` was bumped. This computes every feature
of `FEATURE_SET` with the one pipeline (`features.build`, with candidate rows) on a cohort that
depends on nothing but numpy's seeded generator (`tests.synth`, not the simulator), rounds the
values to 6 decimals and hashes each column. `test_feature_fingerprints.py` compares them with
the committed `feature_fingerprints.json`.

After a deliberate change, write the file again (and say why in the commit):

    uv run python -m tests.data.feature_fingerprints
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from features import FEATURE_SET, build, registry
from features.contract.dose import PLAN_COLUMNS
from tests.synth import START, synth_cohort

PATH = Path(__file__).with_name("feature_fingerprints.json")
DECIMALS = 6  # far below any unit's meaning, far above a change of summation order (~1e-12)
MODALITIES = ("aerobic", "resistance", None)  # per point: one row of each (None: a whole week)


def cohort_frame() -> pd.DataFrame:
    """The features of 80 patients at 4 weekly points each, 3 candidate rows per point."""
    patients, sessions = synth_cohort(80, 40, snapshots=6, seed=20261202, shuffle=True)
    rng = np.random.default_rng(7)
    # what tests.synth never draws, so that every feature varies: symptomatic sessions (8-10)
    # and lung metastases
    bad = sessions["pain"].notna().to_numpy() & (rng.random(len(sessions)) < 0.05)
    sessions.loc[bad, "pain"] = rng.integers(8, 11, int(bad.sum())).astype(float)
    bad = sessions["fatigue"].notna().to_numpy() & (rng.random(len(sessions)) < 0.05)
    sessions.loc[bad, "fatigue"] = rng.integers(8, 11, int(bad.sum())).astype(float)
    lung = patients["patient_id"].isin(patients["patient_id"].unique()[::7])
    patients.loc[lung, "metastatic_sites"] = "lung"
    ids = np.sort(patients["patient_id"].unique())
    days = START + pd.to_timedelta(np.arange(1, 5) * 7 + 3, unit="D")
    keys = pd.DataFrame(
        [(pid, day) for pid in ids for day in days], columns=["patient_id", "as_of"]
    )
    n = len(keys) * len(MODALITIES)
    plans = pd.DataFrame(
        {
            "aerobic_sessions": rng.integers(0, 6, n).astype(float),
            "aerobic_minutes": rng.choice([10.0, 20.0, 30.0, 45.0, 60.0], n),
            "aerobic_pct_hrmax": rng.choice([45.0, 60.0, 64.0, 70.0, 77.0, 85.0], n),
            "resistance_sessions": rng.integers(0, 4, n).astype(float),
            "resistance_sets": rng.choice([1.0, 2.0, 3.0], n),
            "resistance_reps": rng.choice([8.0, 10.0, 12.0, 15.0], n),
            "resistance_pct_1rm": rng.choice([30.0, 40.0, 50.0, 60.0, 75.0], n),
        }
    )[list(PLAN_COLUMNS)]
    cands = pd.concat([keys] * len(MODALITIES), ignore_index=True).assign(
        modality=np.repeat(np.array(MODALITIES, dtype=object), len(keys))
    )
    return build(patients, sessions, keys, candidates=pd.concat([cands, plans], axis=1))


def fingerprint(values: np.ndarray) -> str:
    """A short hash of one column: rounded, -0 as 0, NaN kept as NaN (one bit pattern)."""
    x = np.round(np.asarray(values, dtype=float), DECIMALS) + 0.0
    x = np.where(np.isnan(x), np.nan, x)
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]


def compute() -> dict[str, dict[str, str]]:
    """feature -> {since, fingerprint}, in FEATURE_SET order."""
    frame = cohort_frame()
    since = {f.name: f.since for f in registry.FEATURES}
    return {
        c: {"since": since[c], "fingerprint": fingerprint(frame[c].to_numpy(float))}
        for c in FEATURE_SET.columns
    }


def main() -> int:
    PATH.write_text(json.dumps(compute(), indent=1) + "\n")
    print(f"wrote {PATH} ({len(FEATURE_SET.columns)} features, feature set {FEATURE_SET.version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
