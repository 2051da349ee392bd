"""Prefetch handling: what the EHR sent under each key, or what its FHIR server answers.

A prefetch value may be absent, null, a Bundle, a single resource (`patient`), or an
OperationOutcome (the EHR could not get it): null and OperationOutcome mean *missing*. A key the
EHR did not send is fetched from `fhirServer` with the `fhirAuthorization` bearer token when both
were given (CDS Hooks 2.0 section "FHIR Resource Access"); otherwise it stays missing. Every
resource is validated with its fhir.resources R4B model; one that does not validate is dropped
and counted, never half-read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from serving.cds.discovery import PREFETCH
from serving.cds.models import HookRequest

log = logging.getLogger("dosewise.cds.prefetch")

FETCH_TIMEOUT_S = 5.0
MAX_ENTRIES = 1000


@dataclass
class Record:
    """The patient's FHIR data by prefetch key: a resource (patient) or a list (None = missing)."""

    patient: dict[str, Any] | None = None
    lists: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    invalid: int = 0  # resources dropped because they did not validate

    def get(self, key: str) -> list[dict[str, Any]] | None:
        return self.lists.get(key)


def resource_problem(resource: Any) -> str | None:
    """Why `resource` is not a FHIR R4B resource its model accepts (None: it is one). The reason
    names where, never the value there (it may be patient data)."""
    if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
        return "resourceType: required (a FHIR resource type)"
    try:
        model = get_fhir_model_class(resource["resourceType"])
    except (KeyError, ValueError):  # fhir.resources raises ValueError for an unknown name
        model = None
    if model is None or not issubclass(model, Resource):  # "Coding" is a type, not a resource
        return "resourceType: not a FHIR R4B resource type"
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "resource"
        return f"{where}: {first.get('type', 'invalid')}"
    except (ValueError, TypeError) as exc:
        return f"resource: {type(exc).__name__}"
    return None


def is_valid_resource(resource: Any) -> bool:
    """True when `resource` is a FHIR R4B resource its model accepts."""
    return resource_problem(resource) is None


def _entries(value: Mapping[str, Any], record: Record) -> list[dict[str, Any]] | None:
    """The valid resources of a Bundle; None when its `entry` is not a list (not a Bundle)."""
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        return None
    out = []
    for entry in entries[:MAX_ENTRIES]:
        res = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(res, Mapping) or res.get("resourceType") == "OperationOutcome":
            continue
        if is_valid_resource(res):
            out.append(dict(res))
        else:
            record.invalid += 1
    return out


def read_value(key: str, value: Any, record: Record) -> bool:
    """Store a prefetch value under `key`; False when it means "missing"."""
    if not isinstance(value, Mapping):
        return False
    kind = value.get("resourceType")
    if kind == "OperationOutcome":
        return False
    if key == "patient":
        if kind != "Patient" or not is_valid_resource(value):
            record.invalid += int(kind == "Patient")
            return False
        record.patient = dict(value)
        return True
    if kind != "Bundle":
        return False
    entries = _entries(value, record)
    if entries is None:  # a broken Bundle is missing data, never an empty list
        record.invalid += 1
        return False
    record.lists[key] = entries
    return True


def render_template(template: str, context: Mapping[str, Any]) -> str | None:
    """A prefetch template with `{{context.x}}` filled in (None if a token has no value)."""
    out = template
    for name in ("patientId", "userId", "encounterId"):
        token = "{{context." + name + "}}"
        if token in out:
            value = context.get(name)
            if not isinstance(value, str) or not value:
                return None
            out = out.replace(token, value)
    return out


def fetch_value(hook: HookRequest, template: str, client: httpx.Client | None = None) -> Any:
    """GET a rendered template from the EHR's FHIR server (None on any failure: missing)."""
    if not hook.fhirServer or hook.fhirAuthorization is None:
        return None
    if not hook.fhirServer.startswith(("https://", "http://")):
        return None
    query = render_template(template, hook.context)
    if query is None:
        return None
    url = hook.fhirServer.rstrip("/") + "/" + query
    headers = {
        "Authorization": f"Bearer {hook.fhirAuthorization.access_token}",
        "Accept": "application/fhir+json",
    }
    own = client is None
    client = client or httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False)
    try:
        resp = client.get(url, headers=headers)
        if resp.status_code != 200:
            log.warning("FHIR server answered %d for a prefetch query", resp.status_code)
            return None
        return resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("FHIR server fetch failed (%s)", type(exc).__name__)
        return None
    finally:
        if own:
            client.close()


def about_patient(res: Mapping[str, Any], patient_ref: str) -> bool:
    """False when a resource's subject/patient (an Appointment's participant) is another
    Patient (such a resource is never used); relative, absolute and versioned references count,
    `urn:` ones cannot be told."""
    refs = [res.get(name) for name in ("subject", "patient")]
    refs += [p.get("actor") for p in res.get("participant") or [] if isinstance(p, Mapping)]
    for ref in refs:
        target = ref.get("reference") if isinstance(ref, Mapping) else None
        if not isinstance(target, str) or target.startswith("urn:"):
            continue
        target = target.split("/_history")[0]
        if "Patient/" in target and not target.endswith(patient_ref):
            return False
    return True


def gather(
    hook: HookRequest,
    client: httpx.Client | None = None,
    templates: Mapping[str, str] = PREFETCH,
) -> Record:
    """The record behind a hook call: prefetch first, the FHIR server for what is absent
    (`templates`: the discovery's prefetch, with the site's symptom codes).

    Only the patient of `context.patientId` is used: a Patient with another id counts as missing,
    and resources about another patient are dropped (counted in `invalid`)."""
    record = Record()
    sent = hook.prefetch or {}
    pid = hook.context.get("patientId")
    for key, template in templates.items():
        value = sent[key] if key in sent else fetch_value(hook, template, client)
        if not read_value(key, value, record) and key != "patient":
            record.lists[key] = None
    if record.patient is not None and record.patient.get("id") not in (None, pid):
        record.patient = None
    ref = f"Patient/{pid}"
    for key, items in record.lists.items():
        if items is not None:
            kept = [r for r in items if about_patient(r, ref)]
            record.invalid += len(items) - len(kept)
            record.lists[key] = kept
    return record
