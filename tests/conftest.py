"""Suite-wide setup: offline environment, and the `thorough` hypothesis profile.

`uv run pytest --hypothesis-profile=thorough` (100,000 examples per safety property) needs the
profile registered before pytest reads the option, hence here rather than in tests/safety.
"""

from hypothesis import settings

from features.settings import apply_offline_environment

apply_offline_environment()
settings.register_profile("thorough", max_examples=100_000, deadline=None)
