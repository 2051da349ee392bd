"""One settings object; every path is anchored at the project root, never the working directory.

Override any field with a ``DOSEWISE_<FIELD>`` environment variable (tests point ``DOSEWISE_ROOT``
or the individual paths at ``tmp_path``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOSEWISE_", extra="forbid", frozen=True)

    root: Path = PROJECT_ROOT
    data_dir: Path | None = None
    mlruns_dir: Path | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_artifact_root: str | None = None
    audit_db_url: str | None = None
    # No setting for the guideline rules on purpose: serving/guidelines/rules.yaml ships with the
    # code and every change to it goes through the rule, vignette and property tests. A rule file
    # swapped in at deploy time would be an untested safety kernel.

    tolerance_model_name: str = "dosewise-tolerance"
    adherence_model_name: str = "dosewise-adherence"
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"

    # default cohort embedded in the main job (`dosewise up` / `dosewise train` without --data)
    default_patients: int = Field(5000, ge=10)
    default_weeks: int = Field(16, ge=2, le=52)
    default_seed: int = 21

    # serving
    api_keys: str = ""  # comma-separated; stored hashed in memory by the service
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # request headers: more than this many, or more bytes in all (names + values), is a 431
    max_headers: int = Field(64, ge=8, le=1024)
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    # `/metrics` is public when empty; otherwise it needs `Authorization: Bearer <metrics_key>`
    metrics_key: str = ""
    # Policy risk bound and progression gate (serving.policy.PolicyConfig documents and tunes them):
    # minimum P(tolerate) of a prescribed session; minimum P(attend) for one more session a week.
    tolerance_threshold: float = Field(0.65, ge=0, le=1)
    adherence_threshold: float = Field(0.60, ge=0, le=1)

    # monitoring (issue #15): days a `monitoring_log` row (model inputs and predictions of a
    # recommendation) is kept; older rows are purged at start-up and hourly. The audit trail is
    # never purged.
    monitoring_retention_days: int = Field(180, ge=1, le=3650)

    @model_validator(mode="before")
    @classmethod
    def _anchor(cls, values: dict) -> dict:
        root = Path(values.get("root") or PROJECT_ROOT).resolve()
        values["root"] = root
        data = Path(values.get("data_dir") or root / "data")
        mlruns = Path(values.get("mlruns_dir") or root / "mlruns")
        values["data_dir"] = data if data.is_absolute() else root / data
        values["mlruns_dir"] = mlruns if mlruns.is_absolute() else root / mlruns
        mlruns = values["mlruns_dir"]
        values.setdefault("mlflow_tracking_uri", None)
        if not values["mlflow_tracking_uri"]:
            values["mlflow_tracking_uri"] = f"sqlite:///{mlruns / 'mlflow.db'}"
        if not values.get("mlflow_artifact_root"):
            values["mlflow_artifact_root"] = (mlruns / "artifacts").as_uri()
        if not values.get("audit_db_url"):
            values["audit_db_url"] = f"sqlite:///{values['data_dir'] / 'audit.db'}"
        return values

    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()


OFFLINE_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "SPARK_LOCAL_IP": "127.0.0.1",
}


def apply_offline_environment() -> None:
    """Turn off every telemetry / phone-home switch we know of; Dosewise runs without network."""
    import os

    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
