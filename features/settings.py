"""One settings object; every path is anchored at the project root, never the working directory.

Override any field with a ``DOSEWISE_<FIELD>`` environment variable (tests point ``DOSEWISE_ROOT``
or the individual paths at ``tmp_path``). Every ``DOSEWISE_*`` variable is read here and nowhere
else (tests/code/test_settings.py checks).

The root (``data/``, ``mlruns/``, the audit database) is, in order: ``DOSEWISE_ROOT``; the source
checkout the code runs from (a clone, ``uv sync`` or an editable install: a ``pyproject.toml`` of
the ``dosewise`` project next to the packages); otherwise, for an installed wheel, the user data
folder ``$XDG_DATA_HOME/dosewise`` (``~/.local/share/dosewise``). Never site-packages.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_root() -> Path:
    """The source checkout the code runs from, else the user data folder (see the docstring)."""
    import os

    checkout = Path(__file__).resolve().parents[1]
    pyproject = checkout / "pyproject.toml"
    if pyproject.is_file() and 'name = "dosewise"' in pyproject.read_text(encoding="utf-8"):
        return checkout
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "dosewise"


PROJECT_ROOT = default_root()  # the default of `Settings.root`


ENV_PREFIX = "DOSEWISE_"

# A site's code of a 0-10 symptom score: `<system>|<code>=<symptom>`. The system is a URI and
# neither part may hold what would break a FHIR search token or the prefetch query.
_CODE = r"(?P<system>[A-Za-z][A-Za-z0-9+.-]*:[^\s|,&=?#{}]+)\|(?P<code>[^\s|,&=?#{}]+)"
_SITE_CODE = re.compile("^" + _CODE + r"=(?P<symptom>fatigue|pain)$")


# A site's code of a chemotherapy infusion visit: `<system>|<code>` (same character rules).
_VISIT_CODE = re.compile("^" + _CODE + "$")


def _matched(text: str, pattern: re.Pattern[str], form: str) -> list[re.Match[str]]:
    """Each comma-separated entry of `text` matched by `pattern`; a ValueError naming the first
    entry that is not one (`form`: what one looks like), or a code listed twice."""
    found = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        m = pattern.match(entry)
        if m is None:
            raise ValueError(f"{entry!r} is not {form}")
        found.append(m)
    pairs = [(m["system"], m["code"]) for m in found]
    if len(set(pairs)) != len(pairs):
        raise ValueError("a code is listed twice")
    return found


def parse_infusion_codes(text: str) -> tuple[tuple[str, str], ...]:
    """`system|code` entries, comma-separated, as (system, code) pairs."""
    form = "'<system URI>|<code>' (e.g. 'urn:oid:1.2.3.4|INFUSION')"
    return tuple((m["system"], m["code"]) for m in _matched(text, _VISIT_CODE, form))


def parse_symptom_codes(text: str) -> tuple[tuple[str, str, str], ...]:
    """`system|code=fatigue|pain` entries, comma-separated, as (system, code, symptom) triples."""
    form = "'<system URI>|<code>=fatigue' or '...=pain' (e.g. 'http://loinc.org|12345-6=fatigue')"
    return tuple((m["system"], m["code"], m["symptom"]) for m in _matched(text, _SITE_CODE, form))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

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

    # serving processes (serving/launch.py measured these defaults on the 2-core target)
    serve_workers: int = Field(2, ge=1, le=64)
    serve_threads: int = Field(1, ge=1, le=64)  # CPU-bound request threads per worker
    model_reload_seconds: float = Field(30.0, gt=0)  # how often a worker checks the champion alias
    # batch on Spark: memory of the driver JVM (`spark.driver.memory`)
    spark_driver_memory: str = Field("1g", pattern=r"^[0-9]+[kmgt]?$")

    # monitoring (issue #15): days a `monitoring_log` row (model inputs and predictions of a
    # recommendation) is kept; older rows are purged at start-up and hourly. The audit trail is
    # never purged.
    monitoring_retention_days: int = Field(180, ge=1, le=3650)
    # `dosewise monitor` thresholds: crossing one in any ISO week is an alarm (exit 3). Drift is
    # judged against the serving version's first `monitor_baseline_weeks` weeks in service (the
    # policy's own shape; the held-out reference is reported beside it). PSI 0.25 is the usual
    # "large shift". A week is judged only with enough rows (drift) or labelled sessions.
    monitor_baseline_weeks: int = Field(2, ge=1, le=26)
    monitor_prediction_psi: float = Field(0.25, gt=0)
    monitor_prediction_js: float = Field(0.05, gt=0, le=1)
    monitor_feature_psi: float = Field(0.25, gt=0)
    # Performance is judged against what the week's own predictions imply if calibrated
    # (`monitoring/expected.py`), not the held-out figures: realised AUROC falls with the
    # served case-mix by design (no-shift deployments: realised 0.70 = expected 0.70 < held-out
    # 0.78), so only realised below expected is decay. AUROC alarm: below expected (less the
    # estimator's held-out bias) by `monitor_auroc_drop` + 2 SE; ECE alarm: above its sampling
    # floor by `monitor_ece`. Two seeds x 12 no-shift weeks: worst AUROC gap 0.04 (SE 0.02),
    # worst ECE excess 0.016; the tolerance shift's first week: ECE excess 0.13-0.15.
    monitor_auroc_drop: float = Field(0.07, gt=0, le=1)
    monitor_ece: float = Field(0.07, gt=0, le=1)
    monitor_min_rows: int = Field(100, ge=1)  # recommendations in a week for drift
    monitor_min_labels: int = Field(300, ge=1)  # labelled sessions in a week for performance
    # `dosewise train --data <deployment logs>`: the promotion gate compares challenger and
    # champion on this many most recent weeks (of the held-out patients); fitting uses the weeks
    # before them.
    promotion_gate_weeks: int = Field(4, ge=1, le=52)
    # `dosewise train` / `dosewise promote`: before the champion pair changes, the Dosewise arm
    # runs with the champion and the candidate pair on the same simulated patients (this many,
    # for that many weeks; 0 patients: off) in the base and long-sessions-harder scenarios; the
    # candidate must not lose VO2peak or add adverse events (evaluation/promotion.py)
    promotion_outcome_patients: int = Field(300, ge=0, le=100_000)
    promotion_outcome_weeks: int = Field(8, ge=2, le=52)

    # review pages (issue #14): HMAC secret of signed links (empty: a random one kept 0600 in
    # <data_dir>/review_secret), link lifetime, and days a page's data is kept (then 404)
    review_secret: SecretStr = SecretStr("")
    review_link_minutes: int = Field(15, ge=1, le=1440)
    review_retention_days: int = Field(90, ge=1, le=3650)
    # EHR integration (issue #13, serving/cds/): the public base URL the EHR calls (TLS ends at a
    # proxy, so the JWT `aud` is checked against this, never against the Host header), and the
    # JSON file of trusted CDS clients (`{"<iss>": {"keys": [<JWK>, ...]}}`). CDS calls are
    # refused (401) while either is unset.
    public_base_url: str = ""
    cds_trusted_clients: Path | None = None
    # The site's own codes of 0-10 symptom scores, read like LOINC 72514-3 pain (a score of the
    # last 7 days): comma-separated `<system URI>|<code>=fatigue` (or `=pain`). LOINC has no
    # 0-10 fatigue score, so without one every CDS patient's fatigue is unknown and the kernel
    # gives its symptomatic-day band (10-minute light sessions). Each is added to the prefetch.
    # Only a severity score (0 none, 10 the worst) may be named: an "energy" or "well-being"
    # item where 10 is best would read a very tired patient as rested (a looser dose).
    cds_symptom_codes: str = ""
    # The site's own codes of a chemotherapy infusion visit (an Appointment's service type,
    # appointment type, category or reason), comma-separated `<system URI>|<code>`, read beside
    # SNOMED 367336001 / 385786002: the soonest such appointment to come gives the next infusion
    # (without one, the kernel reads the infusion day while on chemotherapy).
    cds_infusion_codes: str = ""

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
        clients = values.get("cds_trusted_clients")
        if clients and not Path(clients).is_absolute():
            values["cds_trusted_clients"] = root / clients
        if not values.get("audit_db_url"):
            values["audit_db_url"] = f"sqlite:///{values['data_dir'] / 'audit.db'}"
        return values

    @field_validator("cds_symptom_codes")
    @classmethod
    def _symptom_codes(cls, value: str) -> str:
        parse_symptom_codes(value)
        return value

    @field_validator("cds_infusion_codes")
    @classmethod
    def _infusion_codes(cls, value: str) -> str:
        parse_infusion_codes(value)
        return value

    def infusion_codes(self) -> tuple[tuple[str, str], ...]:
        """`cds_infusion_codes` as (system, code) pairs."""
        return parse_infusion_codes(self.cds_infusion_codes)

    def symptom_codes(self) -> tuple[tuple[str, str, str], ...]:
        """`cds_symptom_codes` as (system, code, symptom) triples."""
        return parse_symptom_codes(self.cds_symptom_codes)

    @field_validator("audit_db_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_database_url(value)
        return value

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


def check_database_url(url: str) -> str:
    """`url` if SQLAlchemy can read it as a database URL; else ValueError saying what is wanted
    (a malformed URL failed deep in a job with a traceback)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError:
        raise ValueError(
            "not a database URL (e.g. sqlite:////abs/path/audit.db or "
            "postgresql+psycopg://user@host/db)"
        ) from None
    return url


def settings_error_lines(exc: Exception) -> list[str]:
    """A settings ValidationError as one line per bad variable: `DOSEWISE_<FIELD>: reason`."""
    errors = getattr(exc, "errors", lambda: [])()
    return [
        f"{ENV_PREFIX}{'.'.join(str(p) for p in e.get('loc', ())).upper()}: {e.get('msg', '')}"
        for e in errors
    ] or [str(exc)]
