"""Labels for served recommendations: the sessions logged after each recommendation's `as_of`,
in the week it prescribed, labelled by the training code's own functions.

Per session, as in training (`training.examples`): attendance (every planned session) is the
adherence label and `features.labels.tolerated` (attended sessions only) the tolerance label. A
session belongs to the latest recommendation of its patient on or before its date and at most
6 days before it (one recommended week); sessions with no such recommendation (before the
deployment, or a hold/refer week) are not labels of any prediction.

Which prediction a label is scored against (`p_tolerance`, `p_adherence`): the prediction of the
session's own modality at the prescribed dose, as training's held-out evaluation scores each
session (`training.examples`); for rows written before those were recorded (migration 0005),
the served `predictions` (the lower of the two tolerances, the session-weighted attendance),
flagged `per_modality = False`. In a shadow deployment (`scored_plan = usual_care`) the
per-modality predictions are of the clinic's own delivered plan, and a recommendation counts as
dosed when that plan has sessions, whatever the service answered (its hold or refer was not
acted on); its answer's `predictions` (of a plan not delivered) are never a fallback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import tolerated
from serving.monitoring import MODALITY_KEYS, USUAL_CARE

WEEK_DAYS = 7


def label_sessions(recs: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """One row per session that follows a recommendation with a dose: the recommendation's
    position (`rec`), its week and versions, the served predictions, and the two labels
    (`attended`, `tolerated` = NaN when not attended)."""
    dosed = recs[_dosed(recs)]
    cols = ["rec", "as_of", "patient_id", "attended", "tolerated", "modality"]
    if dosed.empty or sessions.empty:
        return pd.DataFrame(columns=[*cols, "p_tolerance", "p_adherence", "per_modality"])
    s = sessions.copy()
    s["patient_id"] = s["patient_id"].astype(str)
    s["date"] = pd.to_datetime(s["date"]).astype("datetime64[ns]")
    s["tolerated"] = tolerated(s).to_numpy()
    s["attended"] = s["attended"].astype(bool)
    left = s[["patient_id", "date", "modality", "attended", "tolerated"]].sort_values("date")
    right = pd.DataFrame(
        {
            "patient_id": dosed["patient_id"].astype(str).to_numpy(),
            "as_of": dosed["as_of"].astype("datetime64[ns]").to_numpy(),
            "rec": dosed.index.to_numpy(),
        }
    ).sort_values("as_of")
    merged = pd.merge_asof(
        left,
        right,
        left_on="date",
        right_on="as_of",
        by="patient_id",
        direction="backward",
        tolerance=pd.Timedelta(days=WEEK_DAYS - 1),
    )
    merged = merged.dropna(subset=["rec"])
    merged["rec"] = merged["rec"].astype(int)
    out = merged[cols].reset_index(drop=True)
    return out.assign(**session_predictions(recs, out))


def _dosed(recs: pd.DataFrame) -> np.ndarray:
    """Recommendations whose week has a scored plan: a served prediction, or per-modality ones."""
    cols = ["pred_tolerance", "pred_adherence"]
    cols += [f"pred_{k}" for k in MODALITY_KEYS if f"pred_{k}" in recs]
    return np.isfinite(recs[cols].to_numpy(float)).any(axis=1)


def session_predictions(recs: pd.DataFrame, labels: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per label row: the prediction its session is scored against (`p_tolerance`,
    `p_adherence`) and whether it is the session's own modality's (`per_modality`)."""
    rec = labels["rec"].to_numpy(int)
    modality = labels["modality"].astype(str).to_numpy()
    out: dict[str, np.ndarray] = {}
    known = np.zeros(len(labels), dtype=bool)
    shadow = np.zeros(len(labels), dtype=bool)
    if "scored_plan" in recs:
        shadow = recs["scored_plan"].to_numpy(object)[rec] == USUAL_CARE
    for kind in ("tolerance", "adherence"):
        p = np.full(len(labels), np.nan)
        for m in ("aerobic", "resistance"):
            col = f"pred_{kind}_{m}"
            if col in recs:
                here = modality == m
                p[here] = recs[col].to_numpy(float)[rec[here]]
        mine = np.isfinite(p)
        known |= mine
        fallback = ~mine & ~shadow
        p[fallback] = recs[f"pred_{kind}"].to_numpy(float)[rec[fallback]]
        out[f"p_{kind}"] = p
    out["per_modality"] = known
    return out
