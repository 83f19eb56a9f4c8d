"""GPE roles (issue 12): a country acting as a state, a people named by a plural demonym, and a city
the model calls a group. Pure tests on sentences written for these tests (no news source)."""

import pytest

from transforms.entities import GOVERNMENT, PEOPLE, link_article
from transforms.gazetteer import load_gazetteer


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


def _roles(body, gaz, ner_spans=()):
    return {r["surface"]: r["gpe_role"] for r in link_article(body, list(ner_spans), gaz)}


@pytest.mark.parametrize(
    "body, country",
    [
        ("The United Kingdom strongly condemns the shelling of the port.", "United Kingdom"),
        ("Canada has repeatedly rejected the proposal.", "Canada"),
        ("Peru will continue to press for a vote.", "Peru"),
        ("Chile is committed to the accord.", "Chile"),
        ("Norway said on Monday that it would send envoys.", "Norway"),
        ("Poland supports Ukraine in the dispute.", "Poland"),
        ("Argentina remains committed to the treaty.", "Argentina"),
        ("We thank our ally Kenya for its help.", "Kenya"),
        ("Nepal is working with donors on the dam.", "Nepal"),
        ("Denmark has a special responsibility to protect the strait.", "Denmark"),
        ("Ghana has every right to defend its borders.", "Ghana"),
        ("Finland is at the forefront of the effort.", "Finland"),
        ("The rebels and their backers, notably Belarus, shelled the town.", "Belarus"),
        ("Talks with US allies such as Portugal resumed.", "Portugal"),
    ],
)
def test_a_country_subject_of_an_agentive_verb_is_the_government(gaz, body, country):
    assert _roles(body, gaz)[country] == GOVERNMENT


@pytest.mark.parametrize(
    "body, country",
    [
        ("Mexico was invaded in 1846.", "Mexico"),  # passive: acted upon
        ("Brazil is a large country.", "Brazil"),  # copula: a description, not an act
        ("Envoys in Ghana said the vote was fair.", "Ghana"),  # object of a preposition
        ("Iran talks resume in Vienna next week.", "Iran"),  # "talks" is a noun here
        ("Iran talks with envoys were cancelled.", "Iran"),
        ("Poland has a long coast.", "Poland"),  # "has" + a noun
        ("Chad has a right-wing cabinet.", "Chad"),  # not a right it holds
        ("Ukraine's harvest was late.", "Ukraine"),  # a possessive is not a subject
        ("Trade between the UK and Uzbekistan rose.", "UK"),
    ],
)
def test_a_country_that_does_not_act_has_no_role(gaz, body, country):
    assert _roles(body, gaz)[country] is None


def test_a_coordinated_subject_acts_as_a_whole(gaz):
    roles = _roles("Japan, India and Australia signed a pact on Friday.", gaz)
    assert roles["Japan"] == roles["India"] == roles["Australia"] == GOVERNMENT
    roles = _roles("Envoys in Syria and Iraq said the vote was fair.", gaz)
    assert roles["Syria"] is None and roles["Iraq"] is None


def test_a_plural_demonym_is_the_people_and_an_adjective_is_not(gaz):
    roles = _roles("Thousands of Syrians fled, and Iraqis too; Swiss banks and a Syrian town were named.", gaz)
    assert roles["Syrians"] == PEOPLE and roles["Iraqis"] == PEOPLE
    assert roles["Swiss"] is None and roles["Syrian"] is None


def test_places_and_people_have_no_government_role(gaz):
    rows = link_article("Antony Blinken said talks would go on.", [(0, 14, "PERSON")], gaz)
    assert [r["gpe_role"] for r in rows] == [None]


def test_a_large_city_the_model_calls_a_group_is_the_city(gaz):
    body = "Shelling hit Aleppo and Liberal voters met."
    rows = {r["surface"]: r for r in link_article(body, [(13, 19, "NORP"), (24, 31, "NORP")], gaz)}
    assert rows["Aleppo"]["entity_id"].startswith("fp:geonames/")
    assert not rows["Liberal"]["entity_id"].startswith("fp:geonames/")  # a town of 20,000: the word


@pytest.mark.parametrize(
    "body, country, role",
    [
        ("Russia's decision to veto the text was criticised.", "Russia", GOVERNMENT),
        ("Turkey is a key partner in the region.", "Turkey", GOVERNMENT),
        ("We urge Russia to stop the shelling.", "Russia", GOVERNMENT),
        ("Leaders called on Iran to comply.", "Iran", GOVERNMENT),
        ("New sanctions against Syria were announced.", "Syria", GOVERNMENT),
        ("Iran's nuclear programme grew.", "Iran", None),  # not an act or a stance
        ("Syria's north is dry.", "Syria", None),
        ("Kenya is a large country.", "Kenya", None),
        ("They travelled to Iraq.", "Iraq", None),
        ("We urge Russia's leaders to stop.", "Russia", None),  # the leaders are addressed
    ],
)
def test_possessors_of_acts_predicate_actors_and_addressees(gaz, body, country, role):
    assert _roles(body, gaz)[country] == role


def _span(body, text, label):
    s = body.index(text)
    return (s, s + len(text), label)


def test_a_country_before_its_own_ministry_is_part_of_the_ministry_name(gaz):
    body = "Officials of the United States Treasury Department met the Japanese Defense Ministry in Oslo."
    rows = link_article(body, [_span(body, "United States Treasury Department", "ORG")], gaz)
    surfaces = {r["surface"]: r["entity_id"] for r in rows}
    assert surfaces["United States Treasury Department"] == "fp:ministry/usa-treasury"
    assert surfaces["Japanese Defense Ministry"] == "fp:ministry/jpn-mod"
    assert "United States" not in surfaces and "Japanese" not in surfaces
    body = "Germany NATO talks went on."  # a country before another country's organisation stays apart
    assert [r["surface"] for r in link_article(body, [], gaz)] == ["Germany", "NATO"]


def test_an_organisation_span_listing_names_is_split_but_a_suffix_is_not(gaz):
    body = "We back the Harbour Guard Corps, Northern Relief Forces, and others. Kestrel Brothers, Inc. fell."
    spans = [_span(body, "Harbour Guard Corps, Northern Relief Forces", "ORG"), _span(body, "Kestrel Brothers, Inc", "ORG")]
    surfaces = [r["surface"] for r in link_article(body, spans, gaz)]
    assert "Harbour Guard Corps" in surfaces and "Northern Relief Forces" in surfaces
    assert "Kestrel Brothers, Inc" in surfaces


def test_a_kunya_the_model_calls_a_group_is_a_person_and_so_is_its_short_form(gaz):
    body = "Abu Kharim ran the network. Later Kharim fled, and Syrians mourned."
    spans = [_span(body, "Abu Kharim", "NORP"), _span(body, "Kharim fled", "NORP")]
    spans[1] = (spans[1][0], spans[1][0] + len("Kharim"), "NORP")
    rows = {r["surface"]: r for r in link_article(body, spans, gaz)}
    assert rows["Abu Kharim"]["entity_id"].startswith("ner:person:")
    assert rows["Kharim"]["entity_id"] == rows["Abu Kharim"]["entity_id"]


@pytest.mark.parametrize(
    "body, country, role",
    [
        ("The bill froze Ukraine aid for months.", "Ukraine", None),  # "aid" is a noun here
        ("Talks failed before the Cuba blockade could be eased.", "Cuba", None),
        ("Canada and Peru sign a trade pact today.", "Peru", GOVERNMENT),
    ],
)
def test_a_base_form_after_the_name_is_a_verb_only_before_an_object(gaz, body, country, role):
    assert _roles(body, gaz)[country] == role


def test_the_cheap_word_test_before_each_pattern_never_hides_a_match():
    """gpe_role_of searches its "...word $" patterns only after the word before the name passed a
    set lookup: every phrase the patterns match must pass it."""
    from transforms.entities import (
        _ACTOR_APPOSITION_RE, _ACTOR_WORDS, _ADDRESSEE_BEFORE_RE, _ADDRESSEE_LAST_WORDS, _PREPOSITION_BEFORE_RE,
        _PREPOSITIONS, _words_before,
    )
    verbs = ("urge urges urged urging call on calls upon called on pressed press pressure pressured thanked "
             "asks told tells telling warned invites encouraged accuse blamed condemns criticised criticizing "
             "congratulated persuading sanctions against sanction on").split()
    phrases = [f"we {v} " for v in verbs] + [f"they {a} {b} the " for a, b in zip(verbs, verbs[1:])]
    phrases += [f"our {w} " for w in ("ally", "allies", "partner", "backers", "adversary", "rival")]
    phrases += [f"troops {p} the " for p in sorted(_PREPOSITIONS)] + [f"Talks {p.title()} " for p in sorted(_PREPOSITIONS)]
    checked = 0
    for phrase in phrases:
        body = phrase + "Syria"
        start = len(phrase)
        word = _words_before(body, start)
        if _ACTOR_APPOSITION_RE.search(body, 0, start):
            assert word in _ACTOR_WORDS, phrase
            checked += 1
        if _ADDRESSEE_BEFORE_RE.search(body[:start]):
            assert word in _ADDRESSEE_LAST_WORDS, phrase
            checked += 1
        if _PREPOSITION_BEFORE_RE.search(body[:start]):
            assert word.lower() in _PREPOSITIONS, phrase
            checked += 1
    assert checked > 60
