"""Seed expectations of issue 2 (cleaning and metadata half), checked on prepare_articles."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from transforms.articles import prepare_articles

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

GONE = [
    "ArrowArtboardCreated", "Created with Sketch", "IconFacebook", "Sponsored Content",
    "Discover the all new Nikkei Asia app", "Take your reading anywhere", "Never miss a story",
    "Customize your reading experience", "Celebrate our next chapter", "Free access for everyone",
    "Find out more", "now known as", "Related Articles", "Leave a comment", "Copyright ©",
    "IRIA is a research institute", "Subscribe to IRIA News", "Enter your email address:", "Back to Top",
    "No Comments on", "Image: Twitter/@SecBlinken", " date 2021-12-12", "pic.twitter.com",
    "(@SecBlinken) December 11, 2021", "© Reuters", "International relations", ". .", " ,",
]


@pytest.fixture(scope="module")
def seeds() -> pl.DataFrame:
    files = sorted(SEEDS.glob("*.txt"))
    docs = pl.DataFrame(
        {"source": [f"seeds/{f.name}" for f in files], "kind": ["text"] * len(files),
         "content": [f.read_text(encoding="utf-8") for f in files], "url": [None] * len(files)},
        schema={"source": pl.String, "kind": pl.String, "content": pl.String, "url": pl.String},
    )
    out = prepare_articles(docs)
    return out.with_columns(pl.col("source").str.extract(r"/(\d{3})_").alias("n"))


def _row(seeds: pl.DataFrame, n: str) -> dict:
    return seeds.filter(pl.col("n") == n).row(0, named=True)


def test_five_articles_no_rejects(seeds):
    assert seeds.height == 5
    assert seeds["reject_reason"].null_count() == 5
    assert seeds["language"].to_list() == ["en"] * 5
    assert (seeds["word_count"] > 200).all()


def test_dates(seeds):
    assert _row(seeds, "000")["published_date"] == date(2021, 12, 12)
    assert _row(seeds, "004")["published_date"] == date(2021, 12, 12)
    for n in ("001", "002", "003"):
        assert _row(seeds, n)["published_date"] is None


def test_titles_and_headline_not_repeated(seeds):
    t2 = "U.S.-Japan alliance needs stronger deterrence, top diplomats say"
    t3 = "US, Japan agree to strengthen alliance amid security concerns in the Indo-Pacific"
    assert _row(seeds, "002")["title"] == t2
    assert _row(seeds, "003")["title"] == t3
    assert t2 not in _row(seeds, "002")["body"]
    assert t3 not in _row(seeds, "003")["body"]


def test_publisher_and_wire(seeds):
    assert (_row(seeds, "002")["publisher"], _row(seeds, "002")["wire"]) == ("Nikkei Asia", "Reuters")
    assert _row(seeds, "003")["publisher"] == "IRIA"
    assert _row(seeds, "000")["wire"] is None


@pytest.mark.parametrize("snippet", GONE)
def test_boilerplate_gone_from_every_body(seeds, snippet):
    for body in seeds["body"].to_list():
        assert snippet not in body


def test_reporting_kept(seeds):
    assert _row(seeds, "000")["body"].endswith(
        "while again seeking an early removal of the measure on a scientific basis, the ministry said.")
    assert "2011 Fukushima nuclear disaster" in _row(seeds, "000")["body"]
    assert _row(seeds, "001")["body"].endswith("swift removal of the measure on a scientific basis, the ministry said.")
    assert _row(seeds, "002")["body"].endswith("while Japan has yet to make its stance clear.")
    assert "TOKYO (Reuters) -- Japanese Foreign Minister" in _row(seeds, "002")["body"]
    assert _row(seeds, "003")["body"].endswith("coordination on a whole series of issues.”")
    b4 = _row(seeds, "004")["body"]
    assert "We look forward to deepening our cooperation on COVID-19, the climate crisis, and many other priority issues." in b4
    assert b4.endswith("Both sides also agreed to coordinate towards conducting a 2+2 meeting at the earliest.")


def test_paragraphs_separated_by_one_blank_line(seeds):
    for body in seeds["body"].to_list():
        assert "\n\n\n" not in body
        assert all(p.strip() == p and p for p in body.split("\n\n"))


def test_bad_rows_become_reject_reasons():
    docs = pl.DataFrame(
        {"source": ["a.txt", "b.html", "c.txt", "d.html"], "kind": ["text", "html", "text", "html"],
         "content": ["", "<html><body><p>Share this</p></body></html>", "Talks ended early.",
                     "\x00\x01\x02\x03"],
         "url": [None, None, None, None]},
        schema={"source": pl.String, "kind": pl.String, "content": pl.String, "url": pl.String},
    )
    out = prepare_articles(docs)
    assert out["source"].to_list() == ["a.txt", "b.html", "c.txt", "d.html"]
    assert out["reject_reason"].to_list() == ["no_content", "no_content", "too_short", "no_content"]
    assert out["reject_detail"].null_count() == 0
    brief = prepare_articles(pl.DataFrame(
        {"source": ["brief.txt"], "kind": ["text"], "url": [None],
         "content": ["Japan and Australia signed a defence pact in Tokyo on Thursday, officials said."]},
        schema={"source": pl.String, "kind": pl.String, "content": pl.String, "url": pl.String},
    ))
    assert brief["reject_reason"].to_list() == [None]  # a real wire brief is kept, and flagged by its length
    assert brief["word_count"].to_list() == [13]
    assert prepare_articles(docs.head(0)).columns[:10] == [
        "source", "title", "body", "published_date", "publisher", "wire", "language", "word_count",
        "reject_reason", "reject_detail"]
