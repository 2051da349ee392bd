"""The helpers several modules share: the audit database's table pieces (serving/db.py), the HTML
report pieces (features/html_report.py) and the MLflow run plumbing (training/tracking_runs.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from features.html_report import html_table, image_sections, page_head, png_base64, write_html
from serving import db
from training.tracking_runs import experiment_id, log_batches


def _ddl(table: Table) -> list[str]:
    out = []
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        out.append(str(CreateTable(table).compile(dialect=dialect)))
        # `table.indexes` is a set: its order follows string hashing, so compare sorted
        out += sorted(str(CreateIndex(ix).compile(dialect=dialect)) for ix in table.indexes)
    return out


def test_column_helpers_give_the_same_schema_as_written_out() -> None:
    helpers = Table(
        "side",
        MetaData(),
        db.id_column(),
        db.ts_column(index=True),
        *db.audit_row_columns(),
        db.patient_id_column(index=True),
        *db.model_columns(),
    )
    literal = Table(
        "side",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("ts", DateTime(timezone=True), nullable=False, index=True),
        Column("writer_id", String(36), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("patient_id", String(64), nullable=False, index=True),
        Column("tolerance_model", String(128), nullable=False),
        Column("tolerance_version", String(32), nullable=False),
        Column("adherence_model", String(128), nullable=False),
        Column("adherence_version", String(32), nullable=False),
    )
    assert _ddl(helpers) == _ddl(literal)
    # fresh columns on every call: a second table can use them too
    Table("other", MetaData(), db.id_column(), db.ts_column())


def test_audit_database_tables_share_one_metadata() -> None:
    from serving.audit import audit_chain_head, audit_log
    from serving.cds.store import cds_feedback, cds_jti
    from serving.ui.store import review_page

    for table in (audit_log, audit_chain_head, cds_feedback, cds_jti, review_page):
        assert table.metadata is db.metadata, table.name


def test_html_pieces_escape_what_they_show(tmp_path: Path) -> None:
    table = html_table([("<b>", 1)], ("name & value", ""))
    assert "<td>&lt;b&gt;</td><td>1</td>" in table and "<th>name &amp; value</th>" in table
    images = image_sections({"A < B": "QUJD"})
    assert 'alt="A &lt; B"' in images and "data:image/png;base64,QUJD" in images
    head = page_head("x <y>", 960)
    assert "<title>x &lt;y&gt;</title>" in head and "max-width:960px" in head
    assert head.rstrip().endswith("<body>")
    out = tmp_path / "sub" / "r.html"
    write_html(out, "<p>é</p>")
    assert out.read_text(encoding="utf-8") == "<p>é</p>"
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]  # no temporary file left


def test_png_base64_is_a_png_and_closes_the_figure() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    data = base64.b64decode(png_base64(fig, dpi=20))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)


class _Client:
    """Records what the tracking helpers ask of an MlflowClient."""

    def __init__(self) -> None:
        self.experiments: dict[str, str] = {}
        self.batches: list[tuple[int, int]] = []

    def get_experiment_by_name(self, name: str) -> Any:
        exp_id = self.experiments.get(name)
        return None if exp_id is None else SimpleNamespace(experiment_id=exp_id)

    def create_experiment(self, name: str, artifact_location: str) -> str:
        self.experiments[name] = str(len(self.experiments) + 1)
        return self.experiments[name]

    def log_batch(self, run_id: str, metrics: list[Any], params: list[Any]) -> None:
        self.batches.append((len(metrics), len(params)))


def test_experiment_is_created_once_and_batches_stay_under_mlflows_limit() -> None:
    client = _Client()
    settings = SimpleNamespace(mlflow_artifact_root="file:///tmp/artifacts")
    first = experiment_id(client, settings, "e")  # type: ignore[arg-type]
    assert experiment_id(client, settings, "e") == first  # type: ignore[arg-type]
    assert len(client.experiments) == 1
    log_batches(client, "run", list(range(1901)), ["p1", "p2"])
    assert client.batches == [(900, 2), (900, 0), (101, 0)]
    client.batches.clear()
    log_batches(client, "run", [], ["p"])  # params are logged even without metrics
    assert client.batches == [(0, 1)]
