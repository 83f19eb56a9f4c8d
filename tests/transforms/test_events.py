"""Events: the lexicon's examples and counterexamples, negation, modality, quotes, offsets, stable ids, seeds."""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl
import pytest

from transforms.articles import prepare_articles
from transforms.entities import extract_entities, load_ner_pipeline
from transforms.events import EVENTS_SCHEMA, MODALITIES, PLOVER_TYPES, QUADS, extract_events, load_lexicon, load_parser
from transforms.gazetteer import load_gazetteer

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@functools.lru_cache(maxsize=1)
def _models():
    return load_ner_pipeline(), load_parser(), load_gazetteer()


def code(*bodies: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events of each body (article ids a0, a1, ...) and the entities, through the real NER and parser."""
    ner, parser, gaz = _models()
    arts = pl.DataFrame({"article_id": [f"a{i}" for i in range(len(bodies))], "title": [None] * len(bodies),
                         "body": list(bodies)}, schema={"article_id": pl.String, "title": pl.String, "body": pl.String})
    mentions, entities = extract_entities(arts, ner, gaz)
    return extract_events(arts.select("article_id", "body"), mentions, entities, parser), entities


def named(events: pl.DataFrame, entities: pl.DataFrame) -> list[tuple]:
    names = dict(zip(entities["entity_id"], entities["canonical_name"]))
    return [(r["event_type"], names[r["actor_entity_id"]], names[r["target_entity_id"]], r["negated"], r["modality"])
            for r in events.iter_rows(named=True)]


# ------------------------------------------------------------------------------------ lexicon
def test_lexicon_covers_the_16_plover_types_with_a_quad_and_an_intensity():
    lex = load_lexicon()
    assert set(lex.quads) == set(PLOVER_TYPES) and len(PLOVER_TYPES) == 16
    assert set(lex.quads.values()) == set(QUADS)
    assert {c.type for c in lex.all_cues()} == set(PLOVER_TYPES), "every type has at least one cue"
    coop = [lex.intensities[t] for t in PLOVER_TYPES if "cooperation" in lex.quads[t]]
    conflict = [lex.intensities[t] for t in PLOVER_TYPES if "conflict" in lex.quads[t]]
    assert min(coop) > 0 > max(conflict)
    assert lex.intensities["ASSAULT"] == min(lex.intensities.values())


CUES = load_lexicon().all_cues()


@pytest.mark.parametrize("cue", CUES, ids=[f"{c.type}-{c.lemma}-{c.pos}" for c in CUES])
def test_cue_example_gives_its_event_and_counterexample_does_not(cue):
    events, _ = code(cue.example, cue.counterexample)
    mine = events.filter(pl.col("event_type") == cue.type)
    example = mine.filter(pl.col("article_id") == "a0")
    assert example.height, f"no {cue.type} in: {cue.example}"
    stems = (cue.lemma[:3], *cue.forms)
    assert any(stem in t.lower() for t in example["trigger"] for stem in stems), example["trigger"].to_list()
    counter = mine.filter(pl.col("article_id") == "a1")
    assert counter.height == 0, f"{cue.type} coded in the counterexample: {cue.counterexample}"


# ------------------------------------------------------------------------------------ negation, modality, quotes
@pytest.mark.parametrize("body, negated", [
    ("Chile did not meet Peru's president.", True),
    ("Chile never met Peru's president.", True),
    ("Chile refused to meet Peru's president.", True),
    ("Chile failed to agree with Peru on fishing quotas.", True),
    ("Chile met Peru's president.", False),
])
def test_negation(body, negated):
    events, ents = code(body)
    rows = named(events, ents)
    assert rows and all(r[0] in ("CONSULT", "AGREE") for r in rows), rows
    assert {r[3] for r in rows} == {negated}, rows


@pytest.mark.parametrize("body, modality", [
    ("Chile met Peru's president.", "asserted"),
    ("Chile will meet Peru's president.", "future"),
    ("Chile plans to meet Peru's president next month.", "future"),
    ("Chile could sanction Peru's officials.", "hypothetical"),
    ("If talks fail, Chile might sanction Peru's officials.", "hypothetical"),
    ("Chile met Peru's president, the ministry said.", "reported"),
    ("According to officials, Chile met Peru's president.", "reported"),
])
def test_modality(body, modality):
    events, ents = code(body)
    rows = named(events, ents)
    assert rows, body
    assert {r[4] for r in rows} == {modality}, rows


def test_two_actors_and_one_target_give_an_event_per_actor():
    events, ents = code("Japan and the United States agreed to counter China's pressure in the region.")
    rows = {(r[1], r[2]) for r in named(events, ents) if r[0] == "AGREE"}
    assert rows == {("Japan", "China"), ("United States", "China")}


def test_two_actors_without_a_target_code_each_other_only_for_mutual_cues():
    events, ents = code("Japan and the United States met in Liverpool.")
    assert {(r[1], r[2]) for r in named(events, ents)} == {("Japan", "United States"), ("United States", "Japan")}
    events, _ = code("Japan and the United States protested in Liverpool.")
    assert events.height == 0  # a protest with no target named is not an event between the two


def test_a_quote_is_attributed_to_the_speaker_not_to_everyone_named():
    events, ents = code("“We strongly condemn Russia's attack on Ukraine,” Antony Blinken said.")
    rows = named(events, ents)
    assert ("ACCUSE", "Antony Blinken", "Russia", False, "reported") in rows
    assert all(r[1] == "Antony Blinken" and r[2] != "Antony Blinken" for r in rows), rows
    # names inside a quote are not paired with the speaker just because he spoke
    events, ents = code("Antony Blinken said, “Really remarkable things between Australia and the United States.”")
    assert events.height == 0, named(events, ents)


def test_quoted_events_between_others_keep_their_own_actors():
    events, ents = code("“Russia attacked Ukraine's power grid,” Antony Blinken said.")
    rows = named(events, ents)
    assert rows == [("ASSAULT", "Russia", "Ukraine", False, "reported")]


def test_places_and_datelines_are_not_actors():
    events, ents = code("LIVERPOOL, England – Germany met France's foreign minister in Liverpool.")
    rows = named(events, ents)
    assert rows == [("CONSULT", "Germany", "France", False, "asserted")]


# ------------------------------------------------------------------------------------ rows
def _seed_frame() -> pl.DataFrame:
    docs = pl.DataFrame([{"source": p.name, "kind": "text", "content": p.read_text(), "url": None}
                         for p in sorted(SEEDS.glob("*.txt"))])
    return prepare_articles(docs).with_columns(article_id=pl.col("source"))


@functools.lru_cache(maxsize=1)
def _seed_events() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    ner, parser, gaz = _models()
    arts = _seed_frame()
    mentions, entities = extract_entities(arts.select("article_id", "title", "body"), ner, gaz)
    return extract_events(arts.select("article_id", "body"), mentions, entities, parser), entities, arts


def test_rows_follow_the_schema_and_offsets_point_at_the_trigger_in_the_body():
    events, entities, arts = _seed_events()
    assert events.schema == pl.Schema(EVENTS_SCHEMA)
    bodies = dict(zip(arts["article_id"], arts["body"]))
    for r in events.iter_rows(named=True):
        body = bodies[r["article_id"]]
        assert body[r["trigger_start"]:r["trigger_end"]] == r["trigger"]
        assert body[r["sentence_start"]:r["sentence_start"] + len(r["evidence"])] == r["evidence"]
        assert r["sentence_start"] <= r["trigger_start"] < r["sentence_start"] + len(r["evidence"])
        assert r["actor_entity_id"] != r["target_entity_id"]
        assert r["modality"] in MODALITIES and 0 <= r["confidence"] <= 1 and -10 <= r["intensity"] <= 10
        assert r["event_type"] in PLOVER_TYPES
    assert events["event_id"].is_unique().all()


def test_rerunning_gives_the_same_event_ids():
    first = _seed_events()[0]
    ner, parser, gaz = _models()
    arts = _seed_frame()
    mentions, entities = extract_entities(arts.select("article_id", "title", "body"), ner, gaz)
    again = extract_events(arts.select("article_id", "body"), mentions, entities, parser)
    assert again["event_id"].to_list() == first["event_id"].to_list()
    assert again.equals(first)


def test_seed_events():
    events, entities, _ = _seed_events()
    names = dict(zip(entities["entity_id"], entities["canonical_name"]))
    rows = events.with_columns(
        actor=pl.col("actor_entity_id").replace_strict(names), target=pl.col("target_entity_id").replace_strict(names)
    )
    pair = {"Antony Blinken", "Yoshimasa Hayashi"}
    consult = rows.filter(pl.col("event_type") == "CONSULT")
    # the Liverpool meeting, between Blinken (USA) and Hayashi (JPN)
    met = consult.filter(pl.col("actor").is_in(pair) & pl.col("target").is_in(pair) & ~pl.col("negated"))
    assert met.height and set(met["actor_country"]) | set(met["target_country"]) == {"USA", "JPN"}
    # agreed to strengthen deterrence: AGREE with actors JPN and USA
    agree = rows.filter((pl.col("event_type") == "AGREE") & pl.col("evidence").str.contains("deterrence"))
    assert {"JPN", "USA"} <= set(agree["actor_country"])
    # Hayashi met Liz Truss (GBR)
    truss = consult.filter((pl.col("actor") == "Yoshimasa Hayashi") & (pl.col("target") == "Liz Truss"))
    assert truss.height and truss["target_country"].to_list()[0] == "GBR"
    # strong opposition to China's attempts to change the status quo
    against = rows.filter((pl.col("quad") == "verbal_conflict") & (pl.col("target_country") == "CHN")
                          & pl.col("evidence").str.contains("status quo"))
    assert against.height
    # "they did not discuss a diplomatic boycott": no asserted event
    boycott = rows.filter(pl.col("evidence").str.contains("did not discuss"))
    assert boycott.height  # the sentence is coded, as a negated event
    assert boycott.filter(~pl.col("negated") & (pl.col("modality") == "asserted")).height == 0


def test_coreferent_mentions_are_actors():
    events, ents = code("Japanese Foreign Minister Yoshimasa Hayashi arrived in London on Friday. "
                        "On Saturday the foreign minister met British Foreign Secretary Liz Truss.")
    rows = named(events, ents)
    assert ("CONSULT", "Yoshimasa Hayashi", "Liz Truss", False, "asserted") in rows, rows
    row = events.filter(pl.col("event_type") == "CONSULT").row(0, named=True)
    assert row["actor_country"] == "JPN" and row["target_country"] == "GBR"
