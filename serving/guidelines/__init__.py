"""Guideline safety kernel: the versioned rule file (`rules.yaml`) and the code that applies it.

Depends only on the data contract (`features.contract`), the standard library and PyYAML, so a
clinician can read and test it without the models or the service.
"""

from serving.guidelines.envelope import EMPTY, Envelope, is_consistent, no_looser
from serving.guidelines.kernel import (
    CLOSURE_LABELS,
    FiredRule,
    KernelResult,
    RuleFileError,
    RuleSet,
    check_prescription,
    clamp_prescription,
    closure_labels,
    default_rules,
    evaluate,
    facts_from_request,
    load_rules,
)

__all__ = [
    "CLOSURE_LABELS",
    "EMPTY",
    "Envelope",
    "FiredRule",
    "KernelResult",
    "RuleFileError",
    "RuleSet",
    "check_prescription",
    "clamp_prescription",
    "closure_labels",
    "default_rules",
    "evaluate",
    "facts_from_request",
    "is_consistent",
    "load_rules",
    "no_looser",
]
