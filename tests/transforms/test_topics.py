"""Topic taxonomy and scoring: taxonomy validity, scoring contract, seed expectations, quality gate."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.topics import (
    DEFAULT_MIN_SCORE,
    MAX_EVIDENCE_CHARS,
    _build_taxonomy,
    expand_cue,
    load_taxonomy,
    score_topics,
    taxonomy_frame,
)

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"

# Quality gate on the seeds (floors pinned from the current scores; lowering one is a visible,
# explained change). Scores at the time of pinning: alliances 0.96, military 0.86, nuclear 0.57-0.62,
# territorial 0.74, boycott 0.78, trade 0.90, summits 0.99, 004 climate/health 0.57.
SEED_CONFIDENT = 0.5  # the filter analysts are told to use
SEED_TOPICS_CONFIDENT = {  # must reach SEED_CONFIDENT in at least one seed
    "alliances_defence",
    "military_posture",
    "nuclear_proliferation",
    "territorial_maritime",
    "diplomatic_boycotts_protests",
    "trade",
    "summits_visits",
}
SEED_TOPICS_PRESENT = {"human_rights"}  # a one-sentence mention per seed: present, below 0.5
SEED_004_TOPICS = {"global_health", "climate_diplomacy"}
SEED_004_FLOOR = 0.5
# Topics the seeds must not carry with confidence (nothing in them is about these).
SEED_ABSENT_CONFIDENT = {"armed_conflict", "migration_refugees", "energy_security", "coups_unrest", "humanitarian_aid"}
REQUIRED_TOPICS = {  # the 20 topics issue 4 asks for, by key
    "alliances_defence", "military_posture", "nuclear_proliferation", "territorial_maritime", "trade",
    "sanctions_export_controls", "human_rights", "diplomatic_boycotts_protests", "summits_visits",
    "multilateral_institutions", "elections_leadership", "armed_conflict", "terrorism", "migration_refugees",
    "energy_security", "climate_diplomacy", "global_health", "cyber_technology", "economic_coercion_investment",
    "humanitarian_aid",
}


def _seed_articles() -> pl.DataFrame:
    rows = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = re.sub(r"^\s*date \d{4}-\d{2}-\d{2}\s*", "", path.read_text(encoding="utf-8"))
        rows.append({"article_id": path.name[:3], "title": None, "body": text})
    return pl.DataFrame(rows, schema={"article_id": pl.Utf8, "title": pl.Utf8, "body": pl.Utf8})


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="module")
def seed_topics(taxonomy):
    return score_topics(_seed_articles(), taxonomy)


def _scores(frame: pl.DataFrame, article_id: str) -> dict[str, float]:
    rows = frame.filter(pl.col("article_id") == article_id)
    return dict(zip(rows["topic"].to_list(), rows["score"].to_list()))


# --- taxonomy -------------------------------------------------------------------------------


def test_taxonomy_has_the_required_topics_and_readable_entries(taxonomy):
    frame = taxonomy_frame(taxonomy)
    assert 20 <= frame.height <= 40
    assert REQUIRED_TOPICS <= set(frame["topic"])
    assert frame["topic"].n_unique() == frame.height
    assert frame.schema["cues"] == pl.List(pl.Utf8)
    for row in frame.iter_rows(named=True):
        assert row["label"] and row["definition"].endswith("."), row["topic"]
        assert len(row["cues"]) >= 5 and len(row["cues"]) == len(row["cue_weights"]), row["topic"]


def test_load_taxonomy_is_cached(taxonomy):
    assert load_taxonomy() is taxonomy


def test_every_cue_expands(taxonomy):
    for topic in taxonomy.topics:
        for cue in topic.cues:
            sensitive, phrases = expand_cue(cue.pattern)
            assert phrases and all(p.startswith(" ") and p.endswith(" ") for p in phrases), cue
            assert sensitive == cue.pattern.startswith("=")


def test_cue_expansion_language():
    sensitive, phrases = expand_cue("nuclear (weapons )?program(me)?s?")
    assert not sensitive and len(phrases) == 8 and " nuclear weapons programmes " in phrases
    assert expand_cue("japan s")[1] == [" japan s "]
    assert expand_cue("u\\.?s\\.? alliance")[1] == [" u s alliance ", " us alliance "]
    assert expand_cue("=WHO") == (True, [" WHO "])
    with pytest.raises(ValueError, match="unsupported"):
        expand_cue("war in \\w+")
    with pytest.raises(ValueError, match="unsupported"):
        expand_cue("a.b")


def _minimal_raw(**overrides):
    topics = [
        {"topic": f"t{i}", "label": f"T{i}", "definition": "Def.", "strong": [f"cue{i}"]} for i in range(20)
    ]
    raw = {"version": "x", "weights": {"strong": 3.0, "medium": 1.5, "weak": 0.5}, "topic": topics}
    raw.update(overrides)
    return raw


def test_build_taxonomy_rejects_bad_files():
    assert len(_build_taxonomy(_minimal_raw()).topics) == 20
    with pytest.raises(ValueError, match="20-40"):
        _build_taxonomy(_minimal_raw(topic=_minimal_raw()["topic"][:5]))
    bad = _minimal_raw()
    bad["topic"][3]["topic"] = "t0"
    with pytest.raises(ValueError, match="duplicate"):
        _build_taxonomy(bad)
    bad = _minimal_raw()
    bad["topic"][1]["strong"] = []
    bad["topic"][1]["weak"] = ["x"]
    with pytest.raises(ValueError, match="no strong cue"):
        _build_taxonomy(bad)
    with pytest.raises(ValueError, match="weights"):
        _build_taxonomy(_minimal_raw(weights={"strong": 1.0}))


# --- scoring contract ---------------------------------------------------------------------------


def test_output_contract(seed_topics):
    assert seed_topics.columns[:4] == ["article_id", "topic", "score", "evidence"]
    assert seed_topics.schema["score"] == pl.Float64
    assert seed_topics["score"].min() >= DEFAULT_MIN_SCORE
    assert seed_topics["score"].max() <= 1.0
    assert seed_topics.select(pl.struct("article_id", "topic").is_unique().all()).item()
    ranks = seed_topics.filter(pl.col("rank") == 1)
    assert ranks.height == seed_topics["article_id"].n_unique()


def test_evidence_is_a_short_verbatim_substring(seed_topics):
    bodies = dict(zip(_seed_articles()["article_id"], _seed_articles()["body"]))
    for row in seed_topics.iter_rows(named=True):
        assert row["evidence"], row
        assert len(row["evidence"]) <= MAX_EVIDENCE_CHARS
        assert row["evidence"] in bodies[row["article_id"]], row


def test_evidence_is_the_sentence_with_the_cue(taxonomy):
    body = (
        "The weather was mild in the capital on Monday. "
        "The two countries signed a free trade agreement cutting tariffs on steel and beef. "
        "Officials later went to dinner."
    )
    out = score_topics(pl.DataFrame({"article_id": [1], "title": [None], "body": [body]}), taxonomy)
    trade = out.filter(pl.col("topic") == "trade").row(0, named=True)
    assert trade["evidence"] == "The two countries signed a free trade agreement cutting tariffs on steel and beef."
    assert trade["score"] >= 0.5
    assert {"free trade agreement", "tariffs"} <= set(trade["matched_cues"])


def test_title_counts_and_is_evidence_when_body_is_silent(taxonomy):
    frame = pl.DataFrame(
        {"article_id": ["a", "b"], "title": ["Sanctions on Iran tightened", None], "body": ["Officials met on Monday."] * 2}
    )
    out = score_topics(frame, taxonomy)
    row = out.filter((pl.col("article_id") == "a") & (pl.col("topic") == "sanctions_export_controls")).row(0, named=True)
    assert row["evidence"] == "Sanctions on Iran tightened"
    assert out.filter((pl.col("article_id") == "b") & (pl.col("topic") == "sanctions_export_controls")).height == 0


def test_longer_phrases_and_ignore_list_consume_words(taxonomy):
    body = "Both sides stressed peace and stability. The trade war dragged on."
    out = score_topics(pl.DataFrame({"article_id": [1], "title": [None], "body": [body]}), taxonomy, min_score=0.0)
    topics = set(out["topic"])
    assert "trade" in topics
    assert "armed_conflict" not in topics  # "war" is inside "trade war"
    assert "peace_processes" not in topics  # "peace and stability" is ignored


def test_case_sensitive_cues(taxonomy):
    frame = pl.DataFrame(
        {"article_id": [1, 2], "title": [None, None],
         "body": ["The WHO declared a public health emergency.", "Those who declared it left."]}
    )
    out = score_topics(frame, taxonomy, min_score=0.0)
    one = out.filter(pl.col("article_id") == 1)
    assert "WHO" in one.filter(pl.col("topic") == "global_health")["matched_cues"].item().to_list()
    assert out.filter(pl.col("article_id") == 2).height == 0


def test_more_evidence_scores_higher_and_long_articles_are_damped(taxonomy):
    one = "Sanctions were discussed."
    three = "Sanctions were discussed. An asset freeze followed. The embargo stays."
    padded = three + " Nothing else happened today." * 200
    frame = pl.DataFrame({"article_id": [1, 2, 3], "title": [None] * 3, "body": [one, three, padded]})
    scores = {r["article_id"]: r["score"] for r in score_topics(frame, taxonomy, min_score=0.0)
              .filter(pl.col("topic") == "sanctions_export_controls").iter_rows(named=True)}
    assert scores[1] < scores[2]
    assert scores[3] < scores[2]


def test_empty_null_and_cueless_inputs(taxonomy):
    empty = pl.DataFrame(schema={"article_id": pl.Int64, "title": pl.Utf8, "body": pl.Utf8})
    assert score_topics(empty, taxonomy).height == 0
    assert score_topics(empty, taxonomy).columns[:4] == ["article_id", "topic", "score", "evidence"]
    frame = pl.DataFrame({"article_id": [1, 2, 3], "title": [None, "", None], "body": [None, "", "Lorem ipsum dolor."]})
    assert score_topics(frame, taxonomy).height == 0
    no_title = pl.DataFrame({"article_id": [1], "body": ["Missile tests by North Korea continued."]})
    assert score_topics(no_title, taxonomy, min_score=0.0).height > 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), min_size=1, max_size=4))
def test_invariants_on_arbitrary_text(bodies):
    taxonomy = load_taxonomy()
    frame = pl.DataFrame({"article_id": list(range(len(bodies))), "title": [None] * len(bodies), "body": bodies})
    out = score_topics(frame, taxonomy, min_score=0.0)
    assert out["score"].is_between(0.0, 1.0).all()
    for row in out.iter_rows(named=True):
        assert row["evidence"] in bodies[row["article_id"]]


# --- quality gate: seeds ------------------------------------------------------------------------------


def test_seed_topics_as_a_whole(seed_topics):
    best = seed_topics.group_by("topic").agg(pl.col("score").max()).rows()
    best = dict(best)
    for topic in SEED_TOPICS_CONFIDENT:
        assert best.get(topic, 0.0) >= SEED_CONFIDENT, (topic, best.get(topic))
    for topic in SEED_TOPICS_PRESENT:
        assert topic in best, topic
    for topic in SEED_ABSENT_CONFIDENT:
        assert best.get(topic, 0.0) < SEED_CONFIDENT, (topic, best.get(topic))


def test_seed_004_global_health_and_climate(seed_topics):
    scores = _scores(seed_topics, "004")
    for topic in SEED_004_TOPICS:
        assert scores.get(topic, 0.0) >= SEED_004_FLOOR, (topic, scores)
    evidence = seed_topics.filter((pl.col("article_id") == "004") & (pl.col("topic") == "global_health"))["evidence"].item()
    assert "COVID-19" in evidence


def test_seed_evidence_names_the_event(seed_topics):
    def evidence(article_id: str, topic: str) -> str:
        return seed_topics.filter((pl.col("article_id") == article_id) & (pl.col("topic") == topic))["evidence"].item()

    assert "Taiwan Strait" in evidence("000", "territorial_maritime")
    assert "boycott" in evidence("002", "diplomatic_boycotts_protests")
    assert "North Korea" in evidence("003", "nuclear_proliferation")


# --- quality gate: AllSides agreement (skipped without ../shared/eval) ----------------------------
# Same sample and label mapping as bench/topics.py (default --sample 500 --seed 7: 193 articles whose
# label has a counterpart). Raw top-topic agreement is no gate: the labels lean to military topics,
# so always answering "military_posture" agrees 0.653, more than the scorer (0.648). The gate is
# agreement above chance given the predictor's own topic frequencies (kappa): measured 0.468 for the
# scorer when pinned (issue 12), 0.494 since LENGTH_EXPONENT 0.7 and the international-law tiers; a
# constant predictor scores 0 by construction, a random one ~0.
ALLSIDES_SAMPLE, ALLSIDES_SEED = 500, 7
ALLSIDES_TOP1_KAPPA_FLOOR = 0.40
RANDOM_PREDICTOR_SEEDS = range(5)


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_topics", REPO / "bench" / "topics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_allsides_floor_fails_constant_and_random_predictors(taxonomy):
    import random

    bench = _bench_module()
    eval_dir = Path(os.environ.get("FPWATCH_EVAL_DIR") or REPO.parent / "shared" / "eval")
    sample = bench.load_sample(eval_dir, ALLSIDES_SAMPLE, ALLSIDES_SEED)
    if sample is None:
        pytest.skip(f"no evaluation corpus under {eval_dir}")
    top = bench.top_topics(score_topics(sample.select("article_id", "title", "body"), taxonomy))
    scorer = bench.chance_corrected_top1(sample, top)
    assert scorer["n"] >= 150
    assert scorer["kappa"] >= ALLSIDES_TOP1_KAPPA_FLOOR, scorer

    ids = sample["article_id"].to_list()
    topics = sorted(taxonomy_frame(taxonomy)["topic"].to_list())
    constant = {t: bench.chance_corrected_top1(sample, dict.fromkeys(ids, t)) for t in topics}
    best = max(constant.values(), key=lambda c: c["observed"])
    assert best["observed"] > 0.6  # the raw agreement a constant reaches: why raw agreement is no gate
    assert all(c["kappa"] < ALLSIDES_TOP1_KAPPA_FLOOR for c in constant.values()), constant
    for seed in RANDOM_PREDICTOR_SEEDS:
        rng = random.Random(seed)
        guess = bench.chance_corrected_top1(sample, {a: rng.choice(topics) for a in ids})
        assert guess["kappa"] < ALLSIDES_TOP1_KAPPA_FLOOR, (seed, guess)


# --- hand-labelled sample (bench/data/topics_hand_labels.csv; texts from ../shared/eval) ----------------
# 118 AllSides articles labelled blind with every topic they are substantially about (protocol in the
# file's header); only ids, offsets and hashes are stored. Nothing was tuned on it. Gate pinned from the
# scores when it was written (issue 12): micro-F1 of the >= 0.5 topics 0.534 (0.570 since LENGTH_EXPONENT
# 0.7, picked on the tuning part) and precision of the top topic 0.771, where the best constant predictor
# reaches F1 0.203 / precision 0.263 and random predictors (the gold or the scorer's own topic sets dealt
# to other articles) F1 0.115 / 0.140.
HAND_MIN_ARTICLES = 100
HAND_MICRO_F1_FLOOR = 0.45
HAND_TOP1_PRECISION_FLOOR = 0.65
HEX40 = re.compile(r"[0-9a-f]{40}")


@pytest.mark.parametrize(("name", "min_articles", "marker"), [
    ("HAND_LABELS", HAND_MIN_ARTICLES, "Blind-labelling protocol"), ("HAND_LABELS_DEV", 40, "TUNING part"),
])
def test_hand_label_fixtures_are_well_formed(taxonomy, name, min_articles, marker):
    bench = _bench_module()
    path = getattr(bench, name)
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any(marker in line for line in header)
    rows = bench.read_hand_labels(path)
    topics = {t.topic for t in taxonomy.topics}
    text_hashes: dict[str, set[str]] = {}
    for row in rows:
        assert re.fullmatch(r"[A-Za-z0-9]{16}", row["article_id"]), row
        assert HEX40.fullmatch(row["article_sha1"]), row
        text_hashes.setdefault(row["article_id"], set()).add(row["article_sha1"])
        if row["topic"]:
            assert row["topic"] in topics, row
            start, end = int(row["evidence_start"]), int(row["evidence_end"])
            assert 0 <= start < end and end - start <= 1000, row  # one sentence, not a passage
            assert HEX40.fullmatch(row["evidence_sha1"]), row
        else:
            assert row["evidence_start"] == row["evidence_end"] == row["evidence_sha1"] == "", row
    assert len(text_hashes) >= min_articles
    assert all(len(hashes) == 1 for hashes in text_hashes.values())
    pairs = [(row["article_id"], row["topic"]) for row in rows]
    assert len(pairs) == len(set(pairs))
    without_topic = {row["article_id"] for row in rows if not row["topic"]}
    assert all(sum(a == aid for a, _ in pairs) == 1 for aid in without_topic)  # "no topic" stands alone


def test_tuning_and_held_out_hand_labels_share_no_article():
    bench = _bench_module()
    held_out = {row["article_id"] for row in bench.read_hand_labels(bench.HAND_LABELS)}
    tuning = {row["article_id"] for row in bench.read_hand_labels(bench.HAND_LABELS_DEV)}
    assert held_out and tuning and not held_out & tuning


def test_hand_label_reader_rejects_other_columns(tmp_path):
    bench = _bench_module()
    path = tmp_path / "labels.csv"
    path.write_text("# comment\narticle_id,topic,text\nabc,trade,some words\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected columns"):
        bench.read_hand_labels(path)


def test_hand_sample_gate_fails_constant_and_random_predictors(taxonomy):
    bench = _bench_module()
    corpus_path = Path(os.environ.get("FPWATCH_EVAL_DIR") or REPO.parent / "shared" / "eval") / bench.CORPUS
    if not corpus_path.exists():
        pytest.skip(f"no evaluation corpus at {corpus_path}")
    articles, gold, problems = bench.hand_sample(bench._corpus_frame(corpus_path))
    assert not problems  # every article text and evidence sentence still hashes as recorded
    assert len(gold) >= HAND_MIN_ARTICLES
    scored = score_topics(articles.select("article_id", "title", "body"), taxonomy)
    topics = [t.topic for t in taxonomy.topics]

    def figures(pred):
        return bench.micro(bench.per_topic(gold, pred, topics))

    confident = bench.predicted_sets(scored, SEED_CONFIDENT)
    scorer = figures({a: confident.get(a, set()) for a in gold})
    top = bench.top_topics(scored)
    top1 = figures({a: {top[a]} if a in top else set() for a in gold})
    assert scorer["f1"] >= HAND_MICRO_F1_FLOOR, scorer
    assert top1["precision"] >= HAND_TOP1_PRECISION_FLOOR, top1

    for topic in topics:
        constant = figures(bench.constant_predictions(gold, topic))
        assert constant["f1"] < HAND_MICRO_F1_FLOOR and constant["precision"] < HAND_TOP1_PRECISION_FLOOR, topic
    ids = sorted(gold)
    for seed in RANDOM_PREDICTOR_SEEDS:
        for sets in (gold, confident):  # the gold label distribution, and the scorer's own
            guess = figures(bench.shuffled(sets, ids, seed))
            assert guess["f1"] < HAND_MICRO_F1_FLOOR and guess["precision"] < HAND_TOP1_PRECISION_FLOOR, (seed, guess)
