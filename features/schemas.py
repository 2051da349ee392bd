"""Older import path of the data contract: everything now lives in `features.contract`.

Kept so code written against `features.schemas` keeps working (other branches, scripts); new code
imports from `features.contract.<module>`. Safe to delete once nothing imports it.
"""

from features.contract.convert import *  # noqa: F403
from features.contract.dose import PLAN_COLUMNS, REFERENCE_COLUMNS  # noqa: F401
from features.contract.rest import *  # noqa: F403
from features.contract.tables import *  # noqa: F403
from features.contract.vocab import *  # noqa: F403
