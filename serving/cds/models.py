"""CDS Hooks 2.0 request and response objects (cds-hooks.hl7.org/2.0), as pydantic models.

No library models CDS Hooks itself (fhir.resources covers FHIR only), so the few objects the
service reads and writes are written here, once. Requests accept extension fields (the spec lets
clients add `extension`), responses are built by the service and validated on the way out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    """Request side: unknown fields (spec extensions) are ignored, never an error."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests ----------------------------------------------------------------------------------
class FhirAuthorization(_In):
    access_token: str = Field(min_length=1, max_length=8192)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str


class HookRequest(_In):
    hook: str = Field(min_length=1, max_length=64)
    hookInstance: str = Field(min_length=1, max_length=128)
    fhirServer: str | None = Field(None, max_length=2048)
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class OverrideReason(_In):
    reason: Coding | None = None
    userComment: str | None = None  # read, never stored (free text may be PHI)


class FeedbackItem(_In):
    card: str = Field(min_length=1, max_length=64)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] = Field(default_factory=list, max_length=16)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: dt.datetime


class FeedbackRequest(_In):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=64)


# --- responses ---------------------------------------------------------------------------------
class Coding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=64)
    system: str | None = Field(None, max_length=256)
    display: str | None = Field(None, max_length=256)


class Source(_Out):
    label: str
    url: str | None = None
    topic: Coding | None = None


class Action(_Out):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: list[str] | None = None


class Suggestion(_Out):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] = Field(default_factory=list)


class Link(_Out):
    label: str
    url: str
    type: Literal["absolute", "smart"]


class Card(_Out):
    uuid: str | None = None
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] = Field(default_factory=list)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


class CardsResponse(_Out):
    cards: list[Card]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ServiceDescription(_Out):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    usageRequirements: str | None = None


OverrideReason.model_rebuild()
FeedbackItem.model_rebuild()
FeedbackRequest.model_rebuild()
