"""Run reports and data checks: every flow run ends with `close_run` (or `fail_run` on an error).

close_run runs the data checks of sql/checks/ over the partitions the run replaced, writes the
run's `runs` row (status `failed` when a check fails), publishes a Prefect markdown artifact
(articles in, written, duplicates, rejects by reason, partitions, top entities and topics, checks)
and raises DataChecksFailed naming every failing check, so the run is red in the UI.

Checks read the lake's current snapshot (an analyst's session never blocks them). Views in that
connection:
- `articles`, `mentions`, `events`, `article_topics`, `article_signatures`, `raw_inputs`: only the run's
  partitions;
- `all_<table>` for every table: the whole lake; `entities`, `stories`, `rejects`, `runs`,
  `topics`: the whole (small) tables.
Each check file returns the offending rows; no rows means the check passes. Parameters are bound:
$run_id, $max_reject_rate, $min_inputs (and $top_n for the report queries).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext

from flows.pipeline.runs import RunContext, finish_run, start_run
from flows.settings import Settings

from flows.warehouse.lake import LAKE
from flows.warehouse.store import PARTITION_COLUMN, SQL_DIR, Warehouse, date_list, first_line, load_contract

log = logging.getLogger(__name__)
CHECKS_DIR = SQL_DIR / "checks"
QUERIES_DIR = SQL_DIR / "queries"
#: Below this many inputs the reject rate is not judged: the seeds plus a handful of bad files
#: (tests/flows/test_run.py: 8 of 14) is a normal day for a folder run, not a broken source.
MIN_INPUTS_FOR_REJECT_RATE = 20
#: Entities and topics listed in a run report: what fits a screen of the Prefect UI.
TOP_N = 5
#: Offending rows shown per failing check (all of them are counted).
SAMPLE_ROWS = 5
#: Partitions listed one by one in a report; longer lists show first, last and the count.
MAX_LISTED_PARTITIONS = 10
ARTIFACT_KEY_PREFIX = "fpwatch"


class DataChecksFailed(RuntimeError):
    """One or more data checks found offending rows; the message names them."""


@dataclass(frozen=True)
class Check:
    """One data check: sql/checks/<name>.sql and the comment at its top."""

    name: str
    description: str
    sql: str


@dataclass
class CheckResult:
    """Outcome of one check: how many offending rows, and a few of them."""

    name: str
    description: str
    failures: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.failures == 0 and self.error is None


def load_checks(folder: Path = CHECKS_DIR) -> list[Check]:
    """Read every check file, in name order; the description is its leading comment."""
    checks = []
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text()
        comment = []
        for line in text.splitlines():
            if not line.startswith("--"):
                break
            comment.append(line.lstrip("-").strip())
        description = " ".join(comment)
        description = description.split(":", 1)[1].strip() if description.startswith(f"{path.stem}:") else description
        checks.append(Check(path.stem, description, text))
    return checks


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _bind(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The named parameters a statement uses (DuckDB rejects unused ones)."""
    names = set(re.findall(r"\$([A-Za-z_]\w*)", sql))
    missing = names - set(values)
    if missing:
        raise KeyError(f"no value for parameters {sorted(missing)}")
    return {k: v for k, v in values.items() if k in names}


def connect_lake(warehouse: Warehouse, partitions: Iterable[dt.date]) -> duckdb.DuckDBPyConnection:
    """A connection to the lake with the checks' views: partitioned tables scoped to `partitions`.

    `all_<table>` is the whole table; `<table>` is, for per-day tables, only the given partitions
    (DuckLake prunes the others from its partition statistics), else the whole table.
    """
    days = sorted(set(partitions))
    cur = warehouse.cursor(use_lake=False)
    for table in load_contract().values():
        cur.execute(f'create or replace temp view "all_{table.name}" as select * from {LAKE}."{table.name}"')
        scope = f" where {PARTITION_COLUMN} in {date_list(days)}" if table.partitioned else ""
        cur.execute(f'create or replace temp view "{table.name}" as select * from {LAKE}."{table.name}"{scope}')
    return cur


def run_checks(
    warehouse: Warehouse,
    run_id: str,
    partitions: Iterable[dt.date],
    *,
    max_reject_rate: float,
    min_inputs: int = MIN_INPUTS_FOR_REJECT_RATE,
    checks: list[Check] | None = None,
) -> list[CheckResult]:
    """Run every data check over the partitions a run replaced; a check that errors counts as failed."""
    values = {"run_id": run_id, "max_reject_rate": max_reject_rate, "min_inputs": min_inputs}
    results = []
    con = connect_lake(warehouse, partitions)
    try:
        for check in checks if checks is not None else load_checks():
            try:
                rows = con.execute(check.sql, _bind(check.sql, values)).fetchall()
                columns = [d[0] for d in con.description] if con.description else []
            except (duckdb.Error, KeyError) as exc:
                results.append(CheckResult(check.name, check.description, 0, error=str(exc).splitlines()[0]))
                continue
            sample = [dict(zip(columns, row, strict=True)) for row in rows[:SAMPLE_ROWS]]
            results.append(CheckResult(check.name, check.description, len(rows), sample))
    finally:
        con.close()
    return results


def _query(con: duckdb.DuckDBPyConnection, name: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    sql = (QUERIES_DIR / f"{name}.sql").read_text()
    rows = con.execute(sql, _bind(sql, values)).fetchall()
    columns = [d[0] for d in con.description]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def run_highlights(warehouse: Warehouse, run: RunContext, top_n: int = TOP_N) -> dict[str, list[dict[str, Any]]]:
    """Top entities and topics of the articles a run wrote (sql/queries/run_top_*.sql)."""
    con = connect_lake(warehouse, run.partitions)
    try:
        values = {"run_id": run.run_id, "top_n": top_n}
        return {
            "top_entities": _query(con, "run_top_entities", values),
            "top_topics": _query(con, "run_top_topics", values),
        }
    finally:
        con.close()


def count_reasons(rejects: Iterable[Any]) -> dict[str, int]:
    """Rejects per reason, most frequent first."""
    counts = Counter(r.reason for r in rejects)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ---------------------------------------------------------------------------------- markdown
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value).replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= 120 else text[:117] + "..."


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _partitions_text(days: list[dt.date]) -> str:
    if not days:
        return "none"
    if len(days) <= MAX_LISTED_PARTITIONS:
        return ", ".join(d.isoformat() for d in days)
    return f"{days[0].isoformat()} .. {days[-1].isoformat()} ({len(days)} partitions)"


def render_report(summary: dict[str, Any], checks: list[CheckResult]) -> str:
    """The run report as markdown: counts, rejects by reason, partitions, top entities/topics, checks.

    summary: a `runs` row (finish_run) plus `rejects_by_reason`, `top_entities`, `top_topics` and
    optional `notes` (list of str).
    """
    partitions = sorted(summary.get("partitions") or [])
    lines = [
        f"# fpwatch {summary['flow']} run: {summary['status']}",
        "",
        f"Run `{summary['run_id']}`, pipeline {summary.get('pipeline_version', '?')}, "
        f"started {_cell(summary.get('started_at'))}, finished {_cell(summary.get('finished_at'))}.",
        "",
    ]
    lines += _table(
        ["articles in", "written", "duplicates", "rejects", "partitions replaced"],
        [[summary.get("articles_in", 0), summary.get("articles_written", 0), summary.get("duplicates", 0),
          summary.get("rejects", 0), len(partitions)]],
    )
    lines += ["", f"**Partitions replaced:** {_partitions_text(partitions)}", ""]
    reasons = summary.get("rejects_by_reason") or {}
    lines += ["## Rejects by reason", ""]
    lines += _table(["reason", "inputs"], [[k, v] for k, v in reasons.items()]) if reasons else ["No rejects."]
    entities = summary.get("top_entities") or []
    lines += ["", "## Top entities", ""]
    lines += (
        _table(["entity", "type", "country", "articles", "mentions"],
               [[e["entity"], e.get("entity_type"), e.get("country_code"), e["articles"], e["mentions"]] for e in entities])
        if entities else ["No mentions written."]
    )
    topics = summary.get("top_topics") or []
    lines += ["", "## Top topics", ""]
    lines += (
        _table(["topic", "articles", "mean score"], [[t["topic"], t["articles"], t["mean_score"]] for t in topics])
        if topics else ["No confident topics written."]
    )
    lines += ["", "## Data checks", ""]
    lines += _table(
        ["check", "result", "offending rows", "what it checks"],
        [[c.name, "pass" if c.passed else ("ERROR" if c.error else "FAIL"), c.failures, c.description.split(". ")[0]]
         for c in checks],
    ) if checks else ["Not run."]
    for check in checks:
        if check.passed:
            continue
        lines += ["", f"### Failed: {check.name}", ""]
        if check.error:
            lines.append(f"Error: `{_cell(check.error)}`")
        elif check.sample:
            columns = list(check.sample[0])
            lines += _table(columns, [[row[c] for c in columns] for row in check.sample])
            if check.failures > len(check.sample):
                lines.append(f"... and {check.failures - len(check.sample)} more rows.")
    if summary.get("message"):
        lines += ["", f"**Message:** {_cell(summary['message'])}"]
    for note in summary.get("notes") or []:
        lines.append(f"- {_cell(note)}")
    params = summary.get("parameters")
    if params:
        lines += ["", "Parameters: `" + (params if isinstance(params, str) else json.dumps(params, default=str)) + "`"]
    return "\n".join(lines) + "\n"


def publish_report(markdown: str, flow: str, description: str) -> str | None:
    """Publish the report as a Prefect markdown artifact keyed by flow; returns its id (None offline)."""
    from prefect.artifacts import create_markdown_artifact

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None  # called outside a Prefect run: the `runs` row is the record
    key = re.sub(r"[^a-z0-9-]+", "-", f"{ARTIFACT_KEY_PREFIX}-{flow}-report".lower())
    return str(create_markdown_artifact(markdown=markdown, key=key, description=description))


# ---------------------------------------------------------------------------------- run endings
@task(name="data-checks", cache_policy=NO_CACHE)
def data_checks(warehouse: Warehouse, run_id: str, partitions: list[dt.date], max_reject_rate: float) -> list[CheckResult]:
    """Run sql/checks/ over the partitions a run replaced (one task run per flow run)."""
    return run_checks(warehouse, run_id, partitions, max_reject_rate=max_reject_rate)


def _report(run: RunContext, row: dict[str, Any], checks: list[CheckResult]) -> dict[str, Any]:
    summary = dict(row)
    summary["rejects_by_reason"] = count_reasons(run.rejects)
    try:
        summary.update(run_highlights(run.warehouse, run))
    except duckdb.Error as exc:  # a report must never hide the run's own outcome
        summary["notes"] = [f"highlights unavailable: {str(exc).splitlines()[0]}"]
    summary["checks"] = [c.__dict__ | {"passed": c.passed} for c in checks]
    markdown = render_report(summary, checks)
    summary["report"] = markdown
    description = (
        f"{row['flow']} {row['status']}: {row['articles_written']} written, {row['rejects']} rejected, "
        f"{len(row['partitions'])} partitions"
    )
    summary["artifact_id"] = publish_report(markdown, row["flow"], description)
    return summary


def close_run(run: RunContext, settings: Settings) -> dict[str, Any]:
    """End a run that did its work: data checks, `runs` row, report artifact; raise if a check failed.

    Returns the summary (the `runs` row plus rejects_by_reason, top_entities, top_topics, checks,
    report, artifact_id).
    """
    args = (run.warehouse, run.run_id, sorted(run.partitions), settings.max_reject_rate)
    checks = data_checks(*args) if FlowRunContext.get() is not None else data_checks.fn(*args)
    failed = [c for c in checks if not c.passed]
    message = None
    if failed:
        message = "data checks failed: " + ", ".join(f"{c.name} ({c.error or f'{c.failures} rows'})" for c in failed)
    row = finish_run(run, "failed" if failed else "completed", message)
    summary = _report(run, row, checks)
    if failed:
        raise DataChecksFailed(message + f" (run {run.run_id}; see its report artifact)")
    return summary


def fail_run(run: RunContext, exc: BaseException) -> dict[str, Any]:
    """End a run that raised: `runs` row with the error, and a report of what it did before failing.

    Never raises: the original error matters more than a missing row or report (when the lake itself
    is what failed, e.g. a full disk, the row stays `running` and the error is logged).
    """
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    try:
        row = finish_run(run, status, f"{type(exc).__name__}: {first_line(exc)}")
    except Exception as again:
        log.warning("could not record the end of run %s: %s", run.run_id, first_line(again))
        return run.row(status, f"{type(exc).__name__}: {first_line(exc)}", finished=True)
    try:
        return _report(run, row, [])
    except Exception:
        return row


@contextlib.contextmanager
def run_lifecycle(flow: str, parameters: dict[str, Any], warehouse: Warehouse, settings: Settings) -> Iterator[RunContext]:
    """Open a run (catalog current, `runs` row `running`), and close it: checks and report, or failure.

    The one start/fail/close of every flow: after the block, `run.summary` holds the summary.
    """
    from flows.pipeline.process import write_topics

    warehouse.ensure_catalog()
    write_topics(warehouse)
    run = start_run(flow, parameters, warehouse)
    try:
        yield run
    except BaseException as exc:
        fail_run(run, exc)
        raise
    run.summary = close_run(run, settings)
