"""MedicationAdministrations, Procedures and Appointments: days since and until an infusion,
recent surgery and the treatment phase."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from serving.cds.fhir_map.code_tables import (
    ACTIVE_TREATMENT_DAYS,
    INFUSION_APPOINTMENT_SNOMED,
    MAX_INFUSION_AGE_DAYS,
    RADIOTHERAPY_SNOMED,
    SNOMED,
    SURGERY_CATEGORY,
    UPCOMING_APPOINTMENT,
)
from serving.cds.fhir_map.readers import (
    has_profile,
    read_codes,
    read_codings,
    read_date,
    read_when,
)
from serving.cds.fhir_map.result import Builder


def map_treatment(
    b: Builder,
    medications: list[Mapping[str, Any]] | None,
    procedures: list[Mapping[str, Any]] | None,
) -> None:
    infusions = sorted(
        (
            d
            for m in medications or []
            if m.get("status") in ("completed", "in-progress")
            and (d := read_when(m, "effective")) is not None
            and d <= b.as_of
        ),
        reverse=True,
    )
    radio: list[dt.date] = []
    surgery: list[dt.date] = []
    for p in procedures or []:
        if p.get("status") not in ("completed", "in-progress"):
            continue
        day = read_when(p, "performed")
        if day is None or day > b.as_of:
            continue
        codes = set(read_codes(p.get("code"), SNOMED))
        if has_profile(p, "mcode-radiotherapy-course-summary") or codes & RADIOTHERAPY_SNOMED:
            radio.append(day)
        elif has_profile(
            p, "mcode-cancer-related-surgical-procedure"
        ) or SURGERY_CATEGORY in read_codes(p.get("category"), SNOMED):
            surgery.append(day)
    days_inf = (b.as_of - infusions[0]).days if infusions else None
    if days_inf is not None and days_inf <= MAX_INFUSION_AGE_DAYS:
        b.put(
            "days_since_infusion",
            days_inf,
            infusions[0],
            "MedicationAdministration",
            f"{days_inf} days",
        )
    if surgery:
        last = max(surgery)
        b.put(
            "recent_surgery_days",
            (b.as_of - last).days,
            last,
            "Procedure",
            f"{(b.as_of - last).days} days",
        )
    last_radio = max(radio) if radio else None
    if days_inf is not None and days_inf <= ACTIVE_TREATMENT_DAYS:
        phase, day, src = "chemotherapy", infusions[0], "MedicationAdministration"
    elif last_radio is not None and (b.as_of - last_radio).days <= ACTIVE_TREATMENT_DAYS:
        phase, day, src = "radiotherapy", last_radio, "Procedure"
    elif infusions or radio or surgery:
        phase, day, src = "post_treatment", None, "MedicationAdministration / Procedure"
    elif medications is not None and procedures is not None:
        phase, day, src = "none", None, "MedicationAdministration / Procedure (none found)"
    else:
        return
    b.put("treatment_phase", phase, day, src, phase)


def map_next_infusion(
    b: Builder,
    appointments: list[Mapping[str, Any]] | None,
    site_codes: Sequence[tuple[str, str]] = (),
) -> None:
    """`next_infusion_in_days` from the soonest chemotherapy Appointment still to come (today
    counts: 0 is the infusion day). Without one the date stays unknown, which the kernel reads
    as the infusion day while on chemotherapy (kernel 2026.12.2). `site_codes`: the site's own
    (system, code) of an infusion visit (Settings.infusion_codes), beside the SNOMED ones."""
    codes = {(SNOMED, c) for c in INFUSION_APPOINTMENT_SNOMED} | set(site_codes)
    days = sorted(
        day
        for a in appointments or []
        if a.get("status") in UPCOMING_APPOINTMENT
        and _is_infusion(a, codes)
        and (day := read_date(a.get("start"))) is not None
        and day >= b.as_of
    )
    if days and (days[0] - b.as_of).days <= MAX_INFUSION_AGE_DAYS:
        n = (days[0] - b.as_of).days
        b.put("next_infusion_in_days", n, days[0], "Appointment", f"in {n} days")


def _is_infusion(appointment: Mapping[str, Any], codes: set[tuple[str, str]]) -> bool:
    fields = ("serviceType", "serviceCategory", "reasonCode")
    concepts = [c for f in fields for c in appointment.get(f) or [] if isinstance(c, Mapping)]
    if isinstance(appointment.get("appointmentType"), Mapping):
        concepts.append(appointment["appointmentType"])
    return any(
        (c.get("system"), str(c.get("code"))) in codes
        for concept in concepts
        for c in read_codings(concept)
    )
