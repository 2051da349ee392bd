"""Labels for served recommendations: the sessions logged after each recommendation's `as_of`,
in the week it prescribed, labelled by the training code's own functions.

Per session, as in training (`training.examples`): attendance (every planned session) is the
adherence label and `features.labels.tolerated` (attended sessions only) the tolerance label. A
session belongs to the latest recommendation of its patient on or before its date and at most
6 days before it (one recommended week); sessions with no such recommendation (before the
deployment, or a hold/refer week) are not labels of any prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import tolerated

WEEK_DAYS = 7


def label_sessions(recs: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """One row per session that follows a recommendation with a dose: the recommendation's
    position (`rec`), its week and versions, the served predictions, and the two labels
    (`attended`, `tolerated` = NaN when not attended)."""
    dosed = recs[np.isfinite(recs["pred_tolerance"]) | np.isfinite(recs["pred_adherence"])]
    cols = ["rec", "as_of", "patient_id", "attended", "tolerated", "modality"]
    if dosed.empty or sessions.empty:
        return pd.DataFrame(columns=cols)
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
    return merged[cols].reset_index(drop=True)
