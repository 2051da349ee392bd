"""`plan_to_prescription`: the band around the plan's point dose, clipped into the envelope; equal
doses share one immutable dose object, and each prescription keeps its own restrictions."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from serving.guidelines import kernel as gk
from serving.policy import PolicyConfig, plan_to_prescription
from tests.safety.conftest import CURRENT_RX, HEALTHY


def _result(**facts) -> gk.KernelResult:
    res = gk.evaluate(HEALTHY | CURRENT_RX | facts)
    assert res.decision == "allowed"
    return res


PLAN = np.array([4.0, 33.0, 69.0, 2.0, 3.0, 12.0, 53.0])


def test_bands_are_centred_on_the_plan_and_clipped_into_the_envelope() -> None:
    cfg = PolicyConfig()
    rx = plan_to_prescription(PLAN, _result(), cfg)
    assert rx.aerobic is not None and rx.resistance is not None
    assert (rx.aerobic.sessions_per_week, rx.aerobic.minutes_per_session) == (4, 33)
    band = rx.aerobic.intensity_pct_hrmax
    assert band.low <= 69 <= band.high and band.high - band.low <= cfg.hrmax_band
    load = rx.resistance.intensity_pct_1rm
    assert load.low <= 53 <= load.high and (
        rx.resistance.sessions_per_week,
        rx.resistance.sets,
    ) == (2, 3)
    capped = _result(platelets_10e9_l=30.0)  # light aerobic only (<= 63% HRmax)
    near_top = PLAN.copy()
    near_top[2] = 62.0  # inside the envelope, the band's top half is not
    low = plan_to_prescription(near_top, capped, cfg).aerobic
    assert low is not None and low.intensity_pct_hrmax.low <= 62
    assert low.intensity_pct_hrmax.high == capped.envelope.aerobic_pct_hrmax_max


def test_equal_doses_share_one_frozen_object_and_restrictions_stay_per_patient() -> None:
    cfg = PolicyConfig()
    a = plan_to_prescription(PLAN, _result(), cfg)
    b = plan_to_prescription(PLAN.copy(), _result(), cfg)
    assert a == b and a.aerobic is b.aerobic  # shared: built once
    with pytest.raises(pydantic.ValidationError):
        a.aerobic.minutes_per_session = 60  # type: ignore[union-attr,misc]
    assert a.restrictions is not b.restrictions
    other = plan_to_prescription(PLAN, _result(platelets_10e9_l=30.0), cfg)  # a lower HRmax cap
    assert other.aerobic != a.aerobic  # another envelope, another dose
