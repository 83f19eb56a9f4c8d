"""Run reports and data checks: each check catches what it names, a failed check fails the run."""

from __future__ import annotations

import datetime as dt
import uuid

import polars as pl
import pytest

from flows.pipeline.reports import (
    CheckResult,
    DataChecksFailed,
    load_checks,
    render_report,
    run_checks,
)
from flows.warehouse.store import Reject, Warehouse

DAY = dt.date(2024, 1, 2)
BODY = "Japan and China met in Beijing."


def _lake(tmp_path, *, articles=None, mentions=None, raw=None, rejects=None) -> Warehouse:
    """A tiny warehouse written through the real Warehouse API (one run, r1, on DAY)."""
    store = Warehouse(tmp_path / "wh")
    store.ensure_catalog()
    articles = articles if articles is not None else [{"article_id": "a", "source": "a.txt", "body": BODY}]
    frame = pl.DataFrame(articles).with_columns(partition_date=pl.lit(DAY), run_id=pl.lit("r1"))
    store.upsert("articles", frame)
    raw = raw if raw is not None else [{"article_id": a["article_id"], "source": a["source"], "kind": "text",
                                        "content": a["body"]} for a in articles]
    if raw:
        store.upsert("raw_inputs", pl.DataFrame(raw).with_columns(partition_date=pl.lit(DAY)))
    mentions = mentions if mentions is not None else [
        {"article_id": "a", "entity_id": "jp", "surface": "Japan", "start_char": 0, "end_char": 5},
        {"article_id": "a", "entity_id": "cn", "surface": "China", "start_char": 10, "end_char": 15},
    ]
    if mentions:
        store.upsert("mentions", pl.DataFrame(mentions).with_columns(partition_date=pl.lit(DAY), run_id=pl.lit("r1")))
    store.upsert(
        "entities",
        pl.DataFrame({"entity_id": ["jp", "cn"], "canonical_name": ["Japan", "China"], "entity_type": ["GPE", "GPE"]}),
        key="entity_id",
    )
    if rejects:
        store.upsert(
            "rejects",
            pl.DataFrame([{"source": s, "reason": "empty", "run_id": "r1"} for s in rejects]),
            key="source",
        )
    return store


def _failing(store: Warehouse, **kwargs) -> dict[str, CheckResult]:
    results = run_checks(store, "r1", [DAY], max_reject_rate=kwargs.pop("max_reject_rate", 0.5), **kwargs)
    assert {r.name for r in results} == {c.name for c in load_checks()}
    assert not [r for r in results if r.error], [r.error for r in results if r.error]
    return {r.name: r for r in results if not r.passed}


def test_every_check_says_what_it_checks():
    checks = load_checks()
    assert len(checks) >= 5
    for check in checks:
        assert check.sql.startswith(f"-- {check.name}:"), check.name
        assert len(check.description) > 30, check.name
        assert "select * from final" in check.sql, check.name


def test_clean_data_passes_every_check(tmp_path):
    assert _failing(_lake(tmp_path)) == {}


def test_checks_catch_blank_bodies_bad_offsets_and_missing_raw_inputs(tmp_path):
    store = _lake(
        tmp_path,
        articles=[{"article_id": "a", "source": "a.txt", "body": BODY}, {"article_id": "b", "source": "b.txt", "body": "  "}],
        mentions=[
            {"article_id": "a", "entity_id": "jp", "surface": "Japan", "start_char": 0, "end_char": 5},
            {"article_id": "a", "entity_id": "cn", "surface": "Chinx", "start_char": 10, "end_char": 15},
            {"article_id": "a", "entity_id": "cn", "surface": "China", "start_char": 40, "end_char": 45},
        ],
        raw=[{"article_id": "a", "source": "a.txt", "kind": "text", "content": BODY}],
    )
    failing = _failing(store)
    assert set(failing) == {"article_without_body", "mention_outside_text", "article_without_raw_input"}
    assert failing["article_without_body"].sample[0]["article_id"] == "b"
    assert failing["mention_outside_text"].failures == 2
    problems = {row["problem"] for row in failing["mention_outside_text"].sample}
    assert problems == {"text differs: China", "offsets out of range"}
    assert [r["article_id"] for r in failing["article_without_raw_input"].sample] == ["b"]


def test_an_article_in_two_partitions_is_caught(tmp_path):
    store = _lake(tmp_path)
    stray = pl.DataFrame([{"article_id": "a", "source": "a.txt", "body": BODY}]).with_columns(
        partition_date=pl.lit(DAY + dt.timedelta(days=1))
    )
    store.append("articles", stray)
    failing = _failing(store)
    assert set(failing) == {"article_doubled"}
    assert failing["article_doubled"].sample[0]["copies"] == 2


def test_reject_rate_is_judged_from_enough_inputs(tmp_path):
    store = _lake(tmp_path, rejects=[f"bad{i}.txt" for i in range(25)])
    assert set(_failing(store)) == {"reject_rate"}
    sample = _failing(store)["reject_rate"].sample[0]
    assert sample["rejects"] == 25 and sample["articles"] == 1
    assert _failing(store, max_reject_rate=0.97) == {}
    assert _failing(store, min_inputs=100) == {}


def test_a_check_that_errors_counts_as_failed(tmp_path):
    from flows.pipeline.reports import Check

    broken = [Check("broken", "refers to a table that is not there", "select * from nowhere")]
    [result] = run_checks(_lake(tmp_path), "r1", [DAY], max_reject_rate=0.5, checks=broken)
    assert not result.passed and "nowhere" in result.error


def test_report_markdown_has_every_section():
    summary = {
        "run_id": "r1", "flow": "backfill", "status": "failed", "articles_in": 12, "articles_written": 10,
        "duplicates": 1, "rejects": 2, "partitions": [DAY + dt.timedelta(days=i) for i in range(12)],
        "rejects_by_reason": {"empty": 2},
        "top_entities": [{"entity": "Japan", "entity_type": "GPE", "country_code": "JPN", "articles": 3, "mentions": 9}],
        "top_topics": [{"topic": "trade", "articles": 2, "mean_score": 0.81}],
        "parameters": '{"start": "2024-01-02"}',
    }
    checks = [
        CheckResult("article_without_body", "articles without text. more", 0),
        CheckResult("mention_outside_text", "bad offsets", 3, [{"article_id": "a|b", "problem": "x"}]),
    ]
    md = render_report(summary, checks)
    for part in ("# fpwatch backfill run: failed", "| 12 | 10 | 1 | 2 | 12 |", "2024-01-02 .. 2024-01-13 (12 partitions)",
                 "| empty | 2 |", "| Japan | GPE | JPN | 3 | 9 |", "| trade | 2 | 0.81 |",
                 "| article_without_body | pass | 0 | articles without text |", "| mention_outside_text | FAIL | 3 |",
                 "### Failed: mention_outside_text", "a\\|b", "... and 2 more rows."):
        assert part in md, part


def test_the_seed_run_publishes_its_report_as_an_artifact(seed_run):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    summary, _ = seed_run
    assert all(c["passed"] for c in summary["checks"])
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(summary["run_id"])]))
        )
    [artifact] = [a for a in artifacts if a.key == "fpwatch-run-report"]
    assert artifact.type == "markdown"
    for part in ("| 5 | 5 |", "## Top entities", "| Japan | GPE | JPN | 5 |", "## Top topics", "| article_doubled | pass |"):
        assert part in artifact.data, part


def test_a_failed_check_fails_the_run_and_names_the_check(prefect_harness, tmp_path):
    from prefect import flow

    from flows.pipeline.reports import close_run
    from flows.pipeline.runs import start_run
    from flows.settings import Settings

    store = _lake(tmp_path)

    @flow
    def writes_a_blank_article():
        run = start_run("run", {}, store)
        bad = pl.DataFrame([{"article_id": "z", "source": "z.txt", "body": ""}]).with_columns(
            partition_date=pl.lit(DAY), run_id=pl.lit(run.run_id)
        )
        store.upsert("articles", bad)
        run.partitions.add(DAY)
        run.articles_written = 1
        run.rejects.append(Reject("y.txt", "empty"))
        return close_run(run, Settings())

    state = writes_a_blank_article(return_state=True)
    assert state.is_failed()
    with pytest.raises(DataChecksFailed, match=r"article_without_body \(1 rows\).*article_without_raw_input"):
        state.result()
    runs = store.read("runs")
    assert runs["status"].to_list() == ["failed"]
    assert "article_without_body" in runs["message"][0]
