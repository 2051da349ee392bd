"""Batch scoring of a cohort (`dosewise score`): the same policy and kernel as `POST /recommend`.

One direction of imports: `job` (the command: arguments, models, atomic commit, resume) ->
engines (`engine_pandas`, `engine_spark`) -> `core` (scoring whole patients with `recommend`,
output rows) -> `validation` (per-row rules); `output` writes files. The names other code uses
are re-exported here.
"""

from serving.batch.core import (
    ENGINES,
    EXTRA_COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    OUTPUT_COLUMNS,
    OUTPUT_SUFFIXES,
    STR_COLUMNS,
    ScoreResult,
    finalize_errors,
    finalize_scored,
    flatten_response,
    policy_config,
    score_cohort,
)
from serving.batch.job import run_score
from serving.batch.output import errors_path, summarize, write_table
from serving.batch.validation import (
    BATCH_PATIENTS_SCHEMA,
    ERROR_COLUMNS,
    BatchError,
    check_columns,
    parse_as_of,
    patient_ids,
    select_snapshots,
    validate_rows,
)

__all__ = [
    "BATCH_PATIENTS_SCHEMA",
    "ENGINES",
    "ERROR_COLUMNS",
    "EXTRA_COLUMNS",
    "FLOAT_COLUMNS",
    "INT_COLUMNS",
    "OUTPUT_COLUMNS",
    "OUTPUT_SUFFIXES",
    "STR_COLUMNS",
    "BatchError",
    "ScoreResult",
    "check_columns",
    "errors_path",
    "finalize_errors",
    "finalize_scored",
    "flatten_response",
    "parse_as_of",
    "patient_ids",
    "policy_config",
    "run_score",
    "score_cohort",
    "select_snapshots",
    "summarize",
    "validate_rows",
    "write_table",
]
