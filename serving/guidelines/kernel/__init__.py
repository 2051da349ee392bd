"""The guideline safety kernel: hold / refer / allowed, and the envelope of allowed doses.

The rules are data (`rules.yaml`, versioned, one entry per rule with its citation); this module only
reads them, turns each condition into a small function (no `eval` of any text), and applies them in
order: hold -> refer -> caps, restrictions and progression, the most restrictive value winning.

Why it looks like this:
- It must be readable and testable by a clinician, so the clinical content lives in the YAML file
  and the code knows nothing about platelets or metastases.
- It is the last line of defence, so it depends only on the data contract (`features.contract`),
  the standard library and PyYAML, and `check_prescription` / `clamp_prescription` can gate any
  prescription from any source.
- It runs for every patient of every batch, so conditions are compiled once and evaluation is a
  few dozen function calls (tens of microseconds).

Missing facts (None, NaN, pandas NA) are "not known": a comparison with an unknown value is false,
so an unknown value never triggers a hold or a cap by itself. Rules that grant something (vigorous
intensity, heavier loads) are written as "cap unless <all the favourable facts are known>", so an
unknown value never loosens anything either. Where an unknown value could hide a reason to hold or
cap (a lab during chemotherapy), the rule file says so explicitly with a `{missing: fact}` rule
that applies the most restrictive band that still allows exercise; such a rule lists the fact
under `unknown:` and the result names it in `unknown_facts` (so the clinician sees why the dose is
conservative).

Closed-modality labels (`no_aerobic`, `no_resistance`, `no_vigorous`) are a function of the FINAL
envelope: they are present exactly when the envelope closes that modality or every vigorous dose,
whichever rule closed it (`closure_labels`), and their meaning rules then apply too (see
`evaluate`). So the response, the audit trail and the envelope never disagree.

| module | concern |
|---|---|
| `facts` | fact types, normalisation of values, the facts of a REST request |
| `conditions` | rule conditions and limit values compiled into functions (`RuleFileError`) |
| `ruleset` | `FiredRule`, `Rule`, `RuleSet`; validating and loading `rules.yaml` |
| `evaluation` | `evaluate`: hold -> refer -> envelope, closed-modality labels (`KernelResult`) |
| `gate` | `check_prescription` and `clamp_prescription`, the final gate |

Callers import from here (`from serving.guidelines import kernel as gk`).
"""

from __future__ import annotations

from serving.guidelines.envelope import Envelope
from serving.guidelines.kernel.conditions import RuleFileError
from serving.guidelines.kernel.evaluation import (
    CLOSURE_LABELS,
    KernelResult,
    closure_labels,
    evaluate,
    normalize_facts,
)
from serving.guidelines.kernel.facts import HISTORY_FACTS, facts_from_request
from serving.guidelines.kernel.gate import (
    TOLERANCE,
    check_prescription,
    clamp_prescription,
    modeq_factor,
)
from serving.guidelines.kernel.ruleset import (
    KINDS,
    RULES_FILE,
    FiredRule,
    Rule,
    RuleSet,
    compile_rules,
    default_rules,
    load_rules,
)

__all__ = [
    "CLOSURE_LABELS",
    "HISTORY_FACTS",
    "KINDS",
    "RULES_FILE",
    "TOLERANCE",
    "Envelope",
    "FiredRule",
    "KernelResult",
    "Rule",
    "RuleFileError",
    "RuleSet",
    "check_prescription",
    "clamp_prescription",
    "closure_labels",
    "compile_rules",
    "default_rules",
    "evaluate",
    "facts_from_request",
    "load_rules",
    "modeq_factor",
    "normalize_facts",
]
