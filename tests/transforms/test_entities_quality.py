"""Quality gate: entity recall, roles and countries on the bundled seeds, and exact-match F1
on a wire-style text written for this test, pinned as floors.

Lowering a floor is a visible, explained change. Figures measured (2026-11): seeds
canonical-entity recall 80/80, role/country checks 4/4, page-furniture names 0; wire fixture
micro-F1 see WIRE_MICRO_F1_FLOOR. In-domain figures are printed by bench/ner.py (they need the
eval folder, which tests never read): re3d held-out 0.590, CrossNER politics test 0.651, CoNLL-2003
dev 0.840 (2026-12, issue 12; docs/gazetteer.md has the table).
"""

import re
from pathlib import Path

import polars as pl
import pytest

from transforms.entities import extract_entities, load_ner_pipeline
from transforms.gazetteer import load_gazetteer

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

# Floors (fractions). Both reach 1.0 today; see module docstring.
SEED_CANONICAL_RECALL_FLOOR = 1.0
SEED_ROLE_ACCURACY_FLOOR = 1.0
# Share of NER-only (non-gazetteer) entities per seed article that look like page furniture
# ("ChevronIcon"): measured 0.11 (3 of 28) before icon names were dropped, 0 since (2026-11).
SEED_MAX_GARBAGE_SHARE = 0.0

ALL_FIVE = ["Antony Blinken", "Yoshimasa Hayashi", "United States", "Japan", "China", "North Korea",
            "Liverpool", "G7", "Australia", "United Kingdom"]
EXPECTED = {
    "000": ALL_FIVE + ["Fumio Kishida", "Joe Biden", "Liz Truss", "Canada", "India", "South Korea", "ASEAN"],
    "001": ALL_FIVE + ["Fumio Kishida", "Joe Biden", "Liz Truss", "Donald Trump", "Canada", "India",
                       "South Korea"],
    "002": ALL_FIVE + ["Fumio Kishida", "Canada"],
    "003": ALL_FIVE + ["Fumio Kishida", "Marise Payne", "Canada", "India", "South Korea", "ASEAN",
                       "AUKUS", "Quad"],
    "004": ALL_FIVE + ["Joe Biden", "India", "South Korea", "ASEAN", "APEC", "East Asia Summit"],
}
ROLES = [  # (canonical name, role, entity country)
    ("Antony Blinken", "Secretary of State", "USA"),
    ("Yoshimasa Hayashi", "Foreign Minister", "JPN"),
    ("Fumio Kishida", "Prime Minister", "JPN"),
    ("Marise Payne", "Foreign Minister", "AUS"),
]


@pytest.fixture(scope="module")
def seed_result():
    rows = []
    for path in sorted(SEEDS.glob("*.txt")):
        body = re.sub(r"^\s*date \d{4}-\d{2}-\d{2}\s*", "", path.read_text(encoding="utf-8"))
        rows.append({"article_id": path.name[:3], "body": body})
    mentions, entities = extract_entities(pl.DataFrame(rows), load_ner_pipeline(), load_gazetteer())
    return mentions.join(entities, on="entity_id")


def test_seed_canonical_entity_recall(seed_result):
    found = total = 0
    missing = []
    for aid, names in EXPECTED.items():
        present = set(seed_result.filter(pl.col("article_id") == aid)["canonical_name"])
        for name in names:
            total += 1
            if name in present:
                found += 1
            else:
                missing.append((aid, name))
    assert found / total >= SEED_CANONICAL_RECALL_FLOOR, missing


def test_seed_roles_and_countries(seed_result):
    ok = 0
    for name, role, country in ROLES:
        rows = seed_result.filter(pl.col("canonical_name") == name)
        if role in set(rows["role"].drop_nulls()) and set(rows["country_code"]) == {country}:
            ok += 1
    assert ok / len(ROLES) >= SEED_ROLE_ACCURACY_FLOOR


def test_seed_united_kingdom_surfaces_are_one_entity(seed_result):
    uk = seed_result.filter(pl.col("canonical_name") == "United Kingdom")
    assert {"Britain", "British", "UK", "England", "London", "United Kingdom"} <= set(uk["surface"])
    assert uk["entity_id"].n_unique() == 1 and uk["country_code"].unique().to_list() == ["GBR"]


def test_seed_ner_garbage_share(seed_result):
    ner_only = seed_result.filter(pl.col("entity_id").str.starts_with("ner:"))
    names = ner_only["canonical_name"].unique().to_list()
    garbage = [n for n in names if re.search(r"Icon|Sketch|Chevron|Print", n)]
    assert len(garbage) / max(1, len(names)) <= SEED_MAX_GARBAGE_SHARE, garbage


# A wire story written for this test in the layouts the NER model alone gets wrong: an
# upper-case headline, a dateline, a results table with clubs named after towns, a results list
# with people and their countries, and a club named in prose only after the table named it.
WIRE_TEXT = """SOCCER - RIVERTON BEAT LAKESIDE TO TOP NORTHERN LEAGUE .
KINGSBRIDGE 2031-05-04
Riverton moved top of the Northern League on Saturday after a 3-1 win over Lakeside , coach Anna Kovacs said .
Kovacs praised striker Tomas Ferreira , who scored twice .
Results :
Riverton 3 Lakeside 1
Portmouth 0 Eastfield United 2
Standings :
Riverton 12 8 2 2 26 11 26
Eastfield United 12 7 3 2 20 12 24
In tennis , Mara Lindqvist ( Sweden ) beat Elena Petrova ( Russia ) 6-3 6-4 in Oslo .
The Vienna-based federation said Portmouth would appeal to UEFA ."""
# (surface, occurrence number, CoNLL type)
WIRE_GOLD = [
    ("RIVERTON", 0, "ORG"), ("LAKESIDE", 0, "ORG"), ("KINGSBRIDGE", 0, "LOC"),
    ("Riverton", 0, "ORG"), ("Northern League", 0, "MISC"), ("Lakeside", 0, "ORG"),
    ("Anna Kovacs", 0, "PER"), ("Kovacs", 1, "PER"), ("Tomas Ferreira", 0, "PER"),
    ("Riverton", 1, "ORG"), ("Lakeside", 1, "ORG"), ("Portmouth", 0, "ORG"),
    ("Eastfield United", 0, "ORG"), ("Riverton", 2, "ORG"), ("Eastfield United", 1, "ORG"),
    ("Mara Lindqvist", 0, "PER"), ("Sweden", 0, "LOC"), ("Elena Petrova", 0, "PER"),
    ("Russia", 0, "LOC"), ("Oslo", 0, "LOC"), ("Vienna-based", 0, "MISC"), ("Portmouth", 1, "ORG"),
    ("UEFA", 0, "ORG"),
]
# Exact-match micro-F1 over PER/ORG/LOC on WIRE_TEXT: measured 0.955 (2026-11; the one miss is
# "Northern League" read as ORG, MISC in CoNLL terms); 0.486 before the layout rules.
WIRE_MICRO_F1_FLOOR = 0.95


def _nth(text, surface, n):
    pos = -1
    for _ in range(n + 1):
        pos = text.index(surface, pos + 1)
    return pos


def _conll_type(entity_type, mention_kind):
    if mention_kind in ("demonym", "modifier"):
        return "MISC"
    if mention_kind == "metonym":
        return "LOC"
    return {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC"}.get(entity_type, "MISC")


def test_wire_layouts_exact_match_f1():
    mentions, entities = extract_entities(
        pl.DataFrame({"article_id": ["w"], "body": [WIRE_TEXT]}), load_ner_pipeline(), load_gazetteer()
    )
    rows = mentions.join(entities, on="entity_id").filter(pl.col("mention_kind") != "nominal")
    pred = {(r["start_char"], r["end_char"], _conll_type(r["entity_type"], r["mention_kind"]))
            for r in rows.iter_rows(named=True)}
    pred = {p for p in pred if p[2] in ("PER", "ORG", "LOC")}
    gold = set()
    for surface, n, typ in WIRE_GOLD:
        if typ in ("PER", "ORG", "LOC"):
            s = _nth(WIRE_TEXT, surface, n)
            gold.add((s, s + len(surface), typ))
    tp = len(pred & gold)
    p, r = tp / max(1, len(pred)), tp / max(1, len(gold))
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    show = lambda spans: sorted((WIRE_TEXT[s:e], t) for s, e, t in spans)  # noqa: E731
    assert f1 >= WIRE_MICRO_F1_FLOOR, {"f1": f1, "missed": show(gold - pred), "spurious": show(pred - gold)}


def test_seed_expectations_of_issue_12(seed_result):
    names = set(seed_result["canonical_name"])
    assert not names & {"U.S", "TOKYO", "South China"}
    ids = dict(zip(seed_result["canonical_name"], seed_result["wikidata_id"]))
    assert ids["G7"] == "Q1764511" and ids["Liverpool"] == "Q24826"
    olympics = seed_result.filter(pl.col("surface").str.contains("Winter Olympics"))
    assert set(olympics["entity_type"]) == {"EVENT"} and olympics["entity_id"].n_unique() == 1


def test_seed_protagonists_have_wikidata_ids(seed_result):
    # Checked in people.csv against EveryPolitician's Wikidata exports (docs/gazetteer.md).
    ids = dict(zip(seed_result["canonical_name"], seed_result["wikidata_id"]))
    assert ids["Antony Blinken"] == "Q7821917" and ids["Yoshimasa Hayashi"] == "Q1141271"
