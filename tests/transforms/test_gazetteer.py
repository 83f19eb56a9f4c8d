"""Gazetteer data and matcher: coverage, stable ids, aliases the seeds rely on."""

import re

import pycountry
import pytest

from transforms.gazetteer import DEMONYM, METONYM, NAME, load_gazetteer, normalize_key

G20 = ["ARG", "AUS", "BRA", "CAN", "CHN", "FRA", "DEU", "IND", "IDN", "ITA", "JPN", "KOR",
       "MEX", "RUS", "SAU", "ZAF", "TUR", "GBR", "USA"]


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


def _ids(gaz, text):
    return [(m.surface, m.entries[0].entity_id, m.alias_kind) for m in gaz.find(text)]


def test_every_iso_country_has_a_stable_id(gaz):
    for country in pycountry.countries:
        ent = gaz.entity("fp:country/" + country.alpha_3)
        assert ent is not None, country.alpha_3
        assert ent.country_code == country.alpha_3
        assert ent.entity_type == "GPE"


def test_wikidata_ids_are_well_formed_and_unique(gaz):
    qids = [e.wikidata_id for e in gaz.entities.values() if e.wikidata_id]
    assert len(qids) > 250
    assert all(re.fullmatch(r"Q\d+", q) for q in qids)
    assert len(qids) == len(set(qids))
    assert gaz.entity("fp:country/USA").wikidata_id == "Q30"
    assert gaz.entity("fp:person/joe-biden").wikidata_id == "Q6279"


def test_g20_leaders_and_foreign_ministers_are_curated(gaz):
    people = [e for e in gaz.entities.values() if e.kind == "person"]
    for iso3 in G20:
        offices = " ".join(o for p in people if p.country_code == iso3 for o in p.offices)
        assert re.search(r"President|Prime Minister|Chancellor|King", offices), iso3
        assert re.search(r"Foreign|Secretary of State|External Affairs", offices), iso3


@pytest.mark.parametrize(
    "text, entity_id, kind",
    [
        ("U.S.", "fp:country/USA", NAME),
        ("US", "fp:country/USA", NAME),
        ("United States", "fp:country/USA", NAME),
        ("Britain", "fp:country/GBR", NAME),
        ("UK", "fp:country/GBR", NAME),
        ("British", "fp:country/GBR", DEMONYM),
        ("Japanese", "fp:country/JPN", DEMONYM),
        ("Washington", "fp:country/USA", METONYM),
        ("Tokyo", "fp:country/JPN", METONYM),
        ("G-7", "fp:org/g7", NAME),
        ("Group of Seven", "fp:org/g7", NAME),
        ("Association of Southeast Asian Nations", "fp:org/asean", NAME),
        ("Republic of Korea", "fp:country/KOR", NAME),
        ("State Department", "fp:ministry/usa-state", NAME),
        ("Hayashi Yoshimasa", "fp:person/yoshimasa-hayashi", NAME),
    ],
)
def test_aliases(gaz, text, entity_id, kind):
    assert _ids(gaz, f"Said {text} today.") == [(text, entity_id, kind)]


def test_matches_inside_hyphenated_compounds_and_headlines(gaz):
    found = _ids(gaz, "the U.S.-Japan alliance; US-Japan-Republic of Korea talks; JAPAN BEAT CHINA")
    assert [f[1] for f in found] == ["fp:country/USA", "fp:country/JPN", "fp:country/USA",
                                     "fp:country/JPN", "fp:country/KOR", "fp:country/JPN",
                                     "fp:country/CHN"]


def test_no_match_inside_words_or_other_names(gaz):
    # "Indo-Pacific" is the region (places_events.csv), never India inside a word
    assert _ids(gaz, "Indo-Pacific strategy, Usonian, the USS Ronald, Germanic") == [
        ("Indo-Pacific", "fp:place/indo-pacific", NAME)]


def test_no_break_space_between_names(gaz):
    assert _ids(gaz, "Antony\u00a0Blinken") == [("Antony\u00a0Blinken", "fp:person/antony-blinken", NAME)]


def test_lookup_is_case_and_accent_insensitive(gaz):
    assert gaz.lookup("the pentagon") or gaz.lookup("Pentagon")
    assert normalize_key("Recep Tayyip Erdoğan") == normalize_key("recep tayyip erdogan")
    assert gaz.lookup("RECEP TAYYIP ERDOGAN")[0].entity_id == "fp:person/recep-tayyip-erdogan"


def test_roles_and_junk_are_loaded(gaz):
    assert gaz.roles["Secretary of State"] == "Secretary of State"
    assert gaz.roles["Defence Minister"] == "Defense Minister"
    assert {"State", "Saturday", "Twitter"} <= gaz.junk


CURATED_WIKIDATA_FILES = ("people.csv", "organizations.csv", "ministries.csv", "places_events.csv",
                          "country_wikidata.csv", "places_wikidata.csv")
# "<owner>/<repo>:<path>": a public file a reader can open (docs/gazetteer.md, "Wikidata ids").
SOURCE_FILE_RE = re.compile(r"[\w.-]+/[\w.-]+:[\w@./~,-]+")
# Checked before issue 12 against files the code-search index names only by a file id (its read_file does not
# return their repository and path). No row may join this list: a new id needs a file a reader can open.
INDEX_ONLY_SOURCES = {"person/mitt-romney", "person/jd-vance", "person/pete-hegseth",
                      "person/saddam-hussein", "2644210"}


def _curated_rows(name):
    import csv

    from transforms.gazetteer import DATA_DIR

    with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", CURATED_WIKIDATA_FILES)
def test_every_curated_wikidata_id_is_well_formed_unique_and_names_its_second_source(name):
    # An id counts only when a second public file pairs it with the same label; that file is named
    # in `wikidata_source`, so an id written from memory cannot be added without one.
    rows = _curated_rows(name)
    assert rows and "wikidata_source" in rows[0], name
    seen = {}
    for row in rows:
        qid = row["wikidata_id"]
        label = row.get("key") or row.get("iso3") or row.get("geonames_id")
        if not qid:
            assert not row["wikidata_source"], (name, label, "a source without an id")
            continue
        assert re.fullmatch(r"Q[1-9]\d*", qid), (name, label, qid)
        assert qid not in seen, (name, qid, seen.get(qid), label)
        seen[qid] = label
        if label in INDEX_ONLY_SOURCES:
            assert re.match(r"search-index files? \d+", row["wikidata_source"]), (name, label)
        else:
            assert SOURCE_FILE_RE.search(row["wikidata_source"]), (name, label, row["wikidata_source"])
        assert qid in row["wikidata_source"], (name, label, "the source must quote the id it pairs")


def test_checked_ids_cover_the_countries_and_the_seed_entities():
    checked = {name: sum(1 for r in _curated_rows(name) if r["wikidata_id"]) for name in CURATED_WIKIDATA_FILES}
    assert checked["country_wikidata.csv"] == len(_curated_rows("country_wikidata.csv"))
    assert checked["people.csv"] >= 146 and checked["organizations.csv"] >= 36
    people = {r["key"]: r["wikidata_id"] for r in _curated_rows("people.csv")}
    orgs = {r["key"]: r["wikidata_id"] for r in _curated_rows("organizations.csv")}
    assert people["person/joe-biden"] == "Q6279" and orgs["org/g7"] == "Q1764511"


def test_seed_protagonists_and_places_carry_ids(gaz):
    assert gaz.entity("fp:org/g7").wikidata_id == "Q1764511"
    liverpool = gaz.lookup_place("Liverpool")[0]
    assert gaz.entity(liverpool.entity_id).wikidata_id == "Q24826"
    assert gaz.entity(liverpool.entity_id).country_code == "GBR"


def test_us_congress_rows_are_copied_from_the_term_file_they_name():
    import unicodedata

    rows = _curated_rows("us_congress.csv")
    assert len(rows) > 2000
    family_of, qid_of = {}, {}
    for row in rows:
        assert re.fullmatch(r"Q[1-9]\d*", row["wikidata_id"]), row
        assert row["chamber"] in ("House", "Senate") and int(row["term"]) >= 112, row
        assert SOURCE_FILE_RE.search(row["wikidata_source"]), row
        assert row["wikidata_source"].startswith(
            f"everypolitician/everypolitician-data:data/United_States_of_America/{row['chamber']}/term-{row['term']}.csv@"
        ), row
        family = unicodedata.normalize("NFKD", row["sort_name"].split(",")[0])
        family = "".join(ch for ch in family if not unicodedata.combining(ch))
        # a member's id is copied once per term: a copying slip shows as one id with two family names
        assert family_of.setdefault(row["wikidata_id"], family) == family, row
        qid_of.setdefault(row["name"], set()).add(row["wikidata_id"])
    assert {name for name, qids in qid_of.items() if len(qids) > 1} == {"Mike Rogers"}


def test_members_of_congress_link_by_full_name_and_a_shared_name_links_no_one():
    from transforms.entities import link_article
    from transforms.gazetteer import load_gazetteer

    gaz = load_gazetteer()
    body = "Rep. Devin Nunes met Sen. Tom Cotton. Nunes said the memo was ready. Mike Rogers agreed."
    nunes = body.index("Nunes said")
    rows = link_article(body, [(nunes, nunes + 5, "PERSON")], gaz)  # the model finds the family name
    ids = {r["surface"]: gaz.entity(r["entity_id"]) for r in rows if gaz.entity(r["entity_id"])}
    assert ids["Devin Nunes"].wikidata_id == "Q539493" and ids["Nunes"].wikidata_id == "Q539493"
    assert ids["Tom Cotton"].wikidata_id == "Q3090307"
    assert "Mike Rogers" not in ids  # two members of the 113th House share the name
    alone = link_article("Nunes said the memo was ready.", [(0, 5, "PERSON")], gaz)
    assert alone and not any(gaz.entity(r["entity_id"]) for r in alone)  # a family name alone is no one yet
