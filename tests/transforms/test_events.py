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
