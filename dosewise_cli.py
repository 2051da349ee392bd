"""The `dosewise` command line: one entry point that wires features -> training -> serving.

Imports are lazy so that `dosewise --help` is instant and each subcommand loads only what it needs.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from serving.cds.cli import cds_app

app = typer.Typer(
    name="dosewise",
    help="Personalised, guideline-bounded exercise prescriptions for people with cancer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
err = Console(stderr=True)


def _settings():
    """The settings, or exit 2 naming each bad DOSEWISE_ variable (not a pydantic traceback)."""
    from pydantic import ValidationError

    from features.settings import apply_offline_environment, get_settings, settings_error_lines

    apply_offline_environment()
    try:
        return get_settings()
    except ValidationError as exc:
        for line in settings_error_lines(exc):
            err.print(f"[red]settings:[/] {line}")
        raise typer.Exit(2) from None


def _writable_file(value: Path | None) -> Path | None:
    """A file option (--report, --out FILE): its folder is checked before any work, so a bad
    path fails now with the reason, not as a traceback after a run of minutes."""
    from features.io import folder_problem

    if value is None:
        return None
    problem = folder_problem(value.parent)
    if problem:
        raise typer.BadParameter(problem)
    if value.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a file name")
    return value


def _db_url(value: str | None) -> str | None:
    """A --db-url option, checked before any work."""
    from features.settings import check_database_url

    if value is None:
        return None
    try:
        return check_database_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _log_model_cards(settings) -> None:
    """The model card as an MLflow artifact of each registered version (serving/ui/modelcard.py
    builds it from the registry; training/ may not import serving/, so the CLI does it)."""
    from serving.ui.modelcard import log_model_cards

    with err.status("Logging the model card with each registered version"):
        for line in log_model_cards(settings):
            err.print(line)


@app.command()
def simulate(
    patients: Annotated[int, typer.Option(min=1, help="Number of patients")] = 2000,
    weeks: Annotated[int, typer.Option(min=1, max=52, help="Weeks of follow-up")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same cohort)")] = 11,
    out: Annotated[Path, typer.Option(help="Output folder")] = Path("data/cohort"),
) -> None:
    """Simulate a cohort (patients.parquet, sessions.parquet, calibration.json) and print the
    calibration table next to the published figures."""
    _settings()
    from training.simulate import run_simulate

    raise typer.Exit(run_simulate(patients, weeks, seed, out))


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option(help="Cohort folder (patients + sessions tables)")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed for the split, the models and the default cohort")
    ] = 21,
    promote: Annotated[bool, typer.Option(help="Run the promotion gate after training")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    gate_weeks: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Compare challenger and champion on the most recent N weeks (default: "
            "DOSEWISE_PROMOTION_GATE_WEEKS for deployment logs, the patient split otherwise)",
        ),
    ] = None,
) -> None:
    """Train the tolerance and adherence models, evaluate on held-out patients, register them in
    MLflow as `challenger`, then promote to `champion` if no worse than the current one, on the
    held-out rows and, for the pair, in the closed loop (evaluation/promotion.py). With
    deployment logs (`simulate-deployment --out DIR`, or production exports in the same
    format), the gate compares on the most recent labelled weeks."""
    settings = _settings()
    from training.cohort import CohortError
    from training.train import print_summary, run_training

    try:
        summary = run_training(
            settings,
            data,
            seed,
            do_promote=promote,
            outcome_check=_outcome_check(settings),
            console=err,
            gate_weeks=gate_weeks,
        )
    except CohortError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    _log_model_cards(settings)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=float))
    else:
        print_summary(summary, Console())


def _outcome_check(settings):
    """The closed-loop check a promotion must pass (None when
    DOSEWISE_PROMOTION_OUTCOME_PATIENTS is 0)."""
    if settings.promotion_outcome_patients == 0:
        return None
    from evaluation.promotion import outcome_check

    return outcome_check(settings, console=err)


@app.command("promote")
def promote_cmd() -> None:
    """Move `champion` to the current `challenger` of each model if it is no worse on the same
    held-out data and, for the pair, in the closed loop; say why."""
    settings = _settings()
    from training.train import promote

    decisions = promote(settings, _outcome_check(settings))
    for d in decisions:
        if d.challenger is None:
            Console().print(f"{d.model}: nothing to promote: no challenger registered")
            continue
        verdict = "[green]promoted[/]" if d.promoted else "[yellow]kept champion[/]"
        before = f"v{d.champion_before}" if d.champion_before is not None else "none"
        Console().print(
            f"{d.model}: {verdict} (challenger v{d.challenger}, champion was {before}): {d.reason}"
        )
    if all(d.challenger is None for d in decisions):
        err.print("no challenger models; run `dosewise train` first")
        raise typer.Exit(2)
    _log_model_cards(settings)


@app.command("evaluate-policy")
def evaluate_policy(
    patients: Annotated[int, typer.Option(min=10)] = 1000,
    weeks: Annotated[int, typer.Option(min=2, max=52)] = 12,
    seed: Annotated[int, typer.Option(help="Simulation seed (same seed, same patients)")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    scenario: Annotated[
        str, typer.Option(help="Stress scenario of the simulator (training/SIMULATOR.md)")
    ] = "base",
    retrain: Annotated[
        bool,
        typer.Option(help="Train on the scenario's cohort first (temporary registry)"),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Write a self-contained HTML report here", callback=_writable_file),
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=10, help="Bootstrap replicates")] = 1000,
    track: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log the run to MLflow")
    ] = True,
    extra_arm: Annotated[
        list[str] | None,
        typer.Option(
            help="Also run this optional arm (repeatable): stateless = the policy for a client "
            "that never states the current prescription nor hands the reference back"
        ),
    ] = None,
) -> None:
    """Closed-loop comparison on the same simulated patients: fixed guideline dose, rule-based
    progression, the Dosewise policy with the champion models (and any registered arm, e.g. the
    oracle), with paired bootstrap intervals, subgroups and stress scenarios."""
    settings = _settings()
    from evaluation.run import run_command
    from training.simulator.scenarios import SCENARIOS

    if scenario not in SCENARIOS:
        err.print(f"unknown --scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        raise typer.Exit(2)
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        err.print(f"--report must name an .html file (got {report.name!r})")
        raise typer.Exit(2)
    from evaluation.arms import OPTIONAL_ARMS

    extras = tuple(dict.fromkeys(extra_arm or ()))
    unknown = [a for a in extras if a not in OPTIONAL_ARMS]
    if unknown:
        err.print(f"unknown --extra-arm {unknown[0]!r}; known: {', '.join(OPTIONAL_ARMS)}")
        raise typer.Exit(2)
    from serving.models import ModelUnavailableError

    try:
        result = run_command(
            settings,
            patients,
            weeks,
            seed,
            scenario,
            retrain,
            report,
            bootstrap,
            track,
            err,
            extras,
        )
    except ModelUnavailableError as exc:
        err.print(f"no champion models ({exc}); run `dosewise train` first (or use --retrain)")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=float))
    else:
        from evaluation.tables import print_evaluation

        print_evaluation(result, Console())


@app.command("tune-policy")
def tune_policy(
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="A PolicyConfig field to change, name=value (repeat for more)"),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Tuning seeds (never 5 or 6)")] = "101,102,103",
    scenarios: Annotated[
        str, typer.Option(help="Scenarios, comma-separated (training/SIMULATOR.md)")
    ] = "base,long-sessions-harder,weak-dose-tolerance",
    patients: Annotated[int, typer.Option(min=10)] = 1000,
    weeks: Annotated[int, typer.Option(min=2, max=52)] = 12,
    jobs: Annotated[int, typer.Option(min=1, help="Closed loops run at once (processes)")] = 1,
    compare_defaults: Annotated[
        bool,
        typer.Option(
            "--compare-defaults/--no-compare-defaults",
            help="Also run today's defaults on the same patients",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Write a self-contained HTML report here", callback=_writable_file),
    ] = None,
    track: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log the run to MLflow")
    ] = True,
) -> None:
    """The policy's tuning protocol: a candidate configuration (the defaults with --set
    changes) against the fixed dose, and today's defaults, on the tuning seeds in the base
    simulator and the stress scenarios, judged by the rule the defaults were chosen by (AEs
    under fixed with a 2.5% margin in every stress scenario; in the base world AEs, dropout
    and strength no worse than fixed and every subgroup's VO2peak within 0.1)."""
    settings = _settings()
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        err.print(f"--report must name an .html file (got {report.name!r})")
        raise typer.Exit(2)
    from evaluation.tuning import check_scenarios, check_seeds, parse_overrides, tune
    from serving.models import ModelUnavailableError
    from serving.policy import PolicyConfig

    scenario_list = [s.strip() for s in scenarios.split(",") if s.strip()]
    try:  # every argument checked before the first closed loop
        overrides = parse_overrides(set_ or [], PolicyConfig())
        try:
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--seeds {seeds!r}: expected comma-separated integers") from None
        check_seeds(seed_list)
        check_scenarios(scenario_list)
    except ValueError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None
    try:
        result = tune(
            settings, overrides, seed_list, scenario_list, patients, weeks, jobs,
            compare_defaults, console=err,
        )  # fmt: skip
    except ModelUnavailableError as exc:
        err.print(f"no champion models ({exc}); run `dosewise train` first")
        raise typer.Exit(2) from None
    if report is not None:
        from evaluation.tuning_report import write_tuning_report

        write_tuning_report(report, result)
        err.print(f"report: {report}")
    if track:
        from evaluation.tracking import log_tuning

        run_id = log_tuning(settings, result, report)
        err.print(f"MLflow run {run_id} (experiment dosewise-policy-tuning)")
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=float))
    else:
        from evaluation.tables import print_tuning

        # a wide table: piped output (a log, CI) gets the room a terminal would
        print_tuning(result, Console() if sys.stdout.isatty() else Console(width=200))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default 2: one per core)")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Policy threads per worker (default 1)")
    ] = None,
    generate_key: Annotated[
        bool,
        typer.Option(
            "--generate-key/--no-generate-key",
            help="With no DOSEWISE_API_KEYS, make and print a key for this run (else all 401)",
        ),
    ] = True,
) -> None:
    """Start the REST service (`bentoml serve serving.service:Dosewise`), tuned for 2 cores."""
    settings = _settings()
    from serving.cds.discovery import check_site_codes

    try:
        check_site_codes(settings.symptom_codes())
    except ValueError as exc:
        err.print(f"[red]settings:[/] {exc}")
        raise typer.Exit(2) from exc
    from serving.launch import serve_forever

    raise typer.Exit(serve_forever(host, port, workers, threads, generate_key))


@app.command()
def score(
    cohort: Annotated[Path, typer.Argument(help="Folder with patients and sessions tables")],
    out: Annotated[
        Path,
        typer.Option(
            help="Output (.parquet or .csv): a file; with --engine spark a dataset folder"
        ),
    ],
    engine: Annotated[str, typer.Option(help="pandas or spark")] = "pandas",
    as_of: Annotated[str | None, typer.Option(help="Prediction date YYYY-MM-DD")] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Patients per recommend call")] = 5000,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="pandas: worker processes (default: all cores)")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="pandas: reuse the chunks a killed or failed run of the same job checkpointed. "
            "Every pandas run checkpoints each finished chunk in .OUT.resume/ next to OUT (removed "
            "when OUT is written or nothing is scorable, kept after a kill or exit 2); without "
            "--resume an earlier run's checkpoints are discarded"
        ),
    ] = False,
    spark_master: Annotated[str | None, typer.Option(help="Spark master URL")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write an HTML report here", callback=_writable_file)
    ] = None,
) -> None:
    """Score a whole cohort with the same policy and guideline kernel as POST /recommend."""
    settings = _settings()
    from serving.batch import run_score

    raise typer.Exit(
        run_score(
            settings,
            cohort,
            out,
            engine,
            as_of,
            chunk_size,
            spark_master,
            report,
            err,
            jobs=jobs,
            resume=resume,
        )
    )


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        err.print(f"{option} must be a date YYYY-MM-DD (got {value!r})")
        raise typer.Exit(2) from None


@app.command()
def monitor(
    since: Annotated[str, typer.Option(help="First as_of date of the window, YYYY-MM-DD")],
    until: Annotated[str, typer.Option(help="Last as_of date of the window, YYYY-MM-DD")],
    sessions: Annotated[
        Path | None,
        typer.Option(help="Cohort folder with the sessions logged after the recommendations"),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write a self-contained HTML report here", callback=_writable_file),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    db_url: Annotated[
        str | None,
        typer.Option(
            help="Monitoring database URL (default: settings.audit_db_url)", callback=_db_url
        ),
    ] = None,
    track: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log to the `dosewise-monitoring` run")
    ] = True,
) -> None:
    """Prediction and feature drift vs the champions' references, the decision mix, and realised
    performance once labels exist; exit 0 healthy, 3 a threshold crossed (retrain), 2 could not
    run."""
    settings = _settings()
    start, end = _date(since, "--since"), _date(until, "--until")
    if end < start:
        err.print("--until is before --since")
        raise typer.Exit(2)
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        err.print(f"--report must name an .html file (got {report.name!r})")
        raise typer.Exit(2)
    if sessions is not None and not sessions.is_dir():
        err.print(f"--sessions must be a cohort folder (not found: {sessions})")
        raise typer.Exit(2)
    from features.io import TableReadError
    from monitoring.run import ALARM, HEALTHY, MonitorError, run_monitor
    from monitoring.tables import print_monitoring

    try:
        with err.status("monitoring: reading, labelling, comparing"):
            result = run_monitor(settings, start, end, sessions, db_url)
    except (MonitorError, TableReadError, FileNotFoundError) as exc:
        err.print(f"monitor: cannot run: {exc}")
        raise typer.Exit(2) from None
    if report is not None:
        from monitoring.report import write_report

        write_report(report, result)
    if track:
        from monitoring.tracking import log_monitoring

        result["mlflow_run_id"] = log_monitoring(settings, result, report)
    if as_json:
        typer.echo(json.dumps(result, indent=1, default=float))
    else:
        print_monitoring(result, Console())
    raise typer.Exit(ALARM if result["alarms"] else HEALTHY)


@app.command("simulate-deployment")
def simulate_deployment(
    weeks: Annotated[int, typer.Option(min=1, max=52, help="Weeks served by Dosewise")] = 12,
    shift: Annotated[str, typer.Option(help="none | cohort-mix | tolerance | logging")] = "none",
    at_week: Annotated[int, typer.Option(min=1, help="First week of the shift (from 1)")] = 6,
    out: Annotated[Path, typer.Option(help="Output folder")] = Path("data/deployment"),
    patients: Annotated[
        int, typer.Option(min=16, help="Patients in the programme each week (per clinic)")
    ] = 400,
    seed: Annotated[int, typer.Option(help="Simulation seed")] = 7,
    start: Annotated[str, typer.Option(help="Monday of week 1, YYYY-MM-DD")] = "2026-03-02",
    db_url: Annotated[
        str | None,
        typer.Option(
            help="Audit/monitoring database URL (default: sqlite:///OUT/audit.db)",
            callback=_db_url,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    mode: Annotated[
        str,
        typer.Option(
            help="active: the service's prescription is delivered | shadow: a silent trial, "
            "the service is asked and recorded but the clinic's usual care is delivered"
        ),
    ] = "active",
) -> None:
    """Run the simulator forward with the served policy (champions, the /recommend_batch path,
    the production audit writer): audit and monitoring rows plus the logged patients and
    sessions tables in OUT, with a shift from --at-week."""
    settings = _settings()
    from monitoring.deployment import MODES, SHIFTS, DeploymentConfig

    if shift not in SHIFTS:
        err.print(f"unknown --shift {shift!r}; known: {', '.join(SHIFTS)}")
        raise typer.Exit(2)
    if mode not in MODES:
        err.print(f"unknown --mode {mode!r}; known: {', '.join(MODES)}")
        raise typer.Exit(2)
    try:
        cfg = DeploymentConfig(
            patients, weeks, shift, at_week, seed, _date(start, "--start"), mode=mode
        )
    except ValueError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None
    from features.io import folder_problem

    problem = folder_problem(out)
    if problem:
        err.print(f"--out: {problem}")
        raise typer.Exit(2)
    from serving.models import ModelUnavailableError, load_champions

    try:
        models = load_champions(settings)
    except ModelUnavailableError as exc:
        err.print(f"no champion models ({exc}); run `dosewise train` first")
        raise typer.Exit(2) from None
    from monitoring.simulate import run_simulate_deployment

    meta = run_simulate_deployment(settings, cfg, out, db_url, err, models)
    if as_json:
        typer.echo(json.dumps(meta, indent=2, default=str))
    else:
        Console().print(
            f"{meta['recommendations']} recommendations ({meta['start']} .. {meta['until']}), "
            f"{meta['sessions']} logged sessions -> {out}; {mode}, shift {shift!r}"
            + (f" from week {at_week}" if shift != "none" else "")
            + f"\nnext: dosewise monitor --since {meta['start']} --until {meta['until']} "
            f"--sessions {out} --db-url {meta['db_url']}"
        )


audit_app = typer.Typer(help="The audit trail of the REST service.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
AuditDbUrl = Annotated[
    str | None,
    typer.Option(help="Audit database URL (default: settings.audit_db_url)", callback=_db_url),
]


def _audit_url(db_url: str | None) -> str:
    url = db_url or _settings().audit_db_url
    assert url is not None
    return url


@audit_app.command("migrate")
def audit_migrate(
    db_url: AuditDbUrl = None,
) -> None:
    """Bring the audit database to the newest schema migration (the service also does this at
    start-up; run it ahead with a privileged role when the service role may only INSERT/SELECT)."""
    url = _audit_url(db_url)  # settings first: they switch telemetry off before imports
    from serving.audit import create_schema, current_revision, make_engine

    engine = make_engine(url)
    try:
        before = current_revision(engine)
        create_schema(engine)
        typer.echo(f"audit migrate: {before or 'empty'} -> {current_revision(engine)}")
    finally:
        engine.dispose()


@audit_app.command("verify")
def audit_verify(
    db_url: AuditDbUrl = None,
) -> None:
    """Recompute the audit trail's hash chains; exit 1 on any gap, edited or forged row."""
    url = _audit_url(db_url)  # settings first: they switch telemetry off before imports
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from serving.audit import make_engine
    from serving.audit_verify import verify

    database = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and database and not Path(database).exists():
        typer.echo(f"audit verify: no audit database at {database}")
        raise typer.Exit(2)
    engine = make_engine(url)
    try:
        report = verify(engine)
    except (OperationalError, ProgrammingError) as exc:  # unreachable, or no audit tables there
        typer.echo(f"audit verify: cannot read the audit database ({type(exc).__name__})")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    for problem in report.problems:
        typer.echo(problem)
    verdict = "OK" if report.ok else f"{len(report.problems)} PROBLEM(S)"
    typer.echo(
        f"audit verify: {report.rows} rows, {report.writers} chains, "
        f"{report.unchained} unchained (older) rows: {verdict}"
    )
    raise typer.Exit(0 if report.ok else 1)


app.add_typer(cds_app, name="cds")  # `dosewise cds` (serving/cds/cli.py)


@app.command()
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """The main job: train on the embedded simulated cohort if no champion exists, then serve."""
    settings = _settings()
    from features import FEATURE_SET
    from training.registry import champion_features, servable

    found = champion_features(settings)  # (once: it reads each champion's signature)
    if servable(found):
        err.print("Champion models found in the registry: skipping training.")
    else:
        stale = {n: c for n, c in found.items() if c and c.stale}
        if stale:
            built = "; ".join(
                f"{n} on {c.feature_set_version} reads {', '.join(c.stale)}"
                for n, c in stale.items()
            )
            err.print(
                f"Champion models read features whose meaning changed by feature set "
                f"{FEATURE_SET.version} ({built}): retraining on the default simulated cohort."
            )
        else:
            err.print("No champion models yet: training on the default simulated cohort.")
        from training.train import print_summary, run_training

        summary = run_training(settings, None, settings.default_seed, console=err)
        print_summary(summary, err)
        _log_model_cards(settings)
    if serve_after:
        serve(host=host, port=port)


@app.command("model-card")
def model_card(
    out: Annotated[
        Path, typer.Option(help="HTML file to write (atomically)", callback=_writable_file)
    ],
    alias: Annotated[
        str | None, typer.Option(help="Registry alias of the versions (default: champion)")
    ] = None,
) -> None:
    """Write the model card of the registered versions behind an alias (intended use, training
    data, held-out metrics overall and by subgroup, calibration, closed-loop results, guideline
    version, limitations) as one self-contained HTML file. Also served at GET /ui/model-card."""
    settings = _settings()
    from serving.ui.modelcard import write_model_card

    try:
        with err.status("Building the model card from the registry"):
            card = write_model_card(settings, out, alias)
    except LookupError as exc:
        err.print(f"[red]{exc}[/]: train first (`dosewise train`)")
        raise typer.Exit(1) from None
    versions = ", ".join(f"{m['name']} v{m['version']}" for m in card["models"])
    err.print(f"Model card of {versions} written to {out}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
