"""Layout rules and one-reading-per-name: pure tests on small texts written for these tests."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.entities import link_article
from transforms.entity_rules import harmonise_spans, layout_spans, soften_shouting
from transforms.gazetteer import load_gazetteer


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


def _labelled(body, spans):
    return {body[s:e]: lab for (s, e), lab in spans.items()}


def test_soften_shouting_title_cases_capital_lines_only():
    text = "SOCCER - RIVERTON BEAT LAKESIDE IN CUP FINAL .\nThe UN and NATO met in Oslo."
    out = soften_shouting(text)
    assert out.splitlines()[0] == "Soccer - Riverton Beat Lakeside in CUP Final ."  # 3 letters: maybe an acronym
    assert out.splitlines()[1] == "The UN and NATO met in Oslo."  # prose keeps its acronyms


@given(st.text(alphabet="ABCDEFG xyz\n.-'", max_size=80))
def test_soften_shouting_keeps_every_offset(text):
    out = soften_shouting(text)
    assert len(out) == len(text)
    assert out.lower() == text.lower()


def test_results_tables_and_fixtures_make_clubs_orgs_but_countries_stay(gaz):
    body = (
        "Riverton 3 Lakeside United 1\n"
        "Portmouth 12 5 4 3 20 11 19\n"
        "Kingsbridge v Eastfield , Northvale v Southdale\n"
        "Japan 2 Canada 0\n"
        "M1 63.02 62.83 57.50"
    )
    got = _labelled(body, layout_spans(body, gaz))
    for club in ("Riverton", "Lakeside United", "Portmouth", "Kingsbridge", "Eastfield", "Northvale", "Southdale"):
        assert got[club] == "ORG", club
    assert "Japan" not in got and "Canada" not in got  # national sides are the country
    assert "M1" not in got  # a row of decimals is not a league table


def test_home_fixture_venue_is_a_place(gaz):
    body = "RIVERTON AT LAKESIDE\nPORTMOUTH AT EASTFIELD"
    got = _labelled(body, layout_spans(body, gaz))
    assert got == {"RIVERTON": "ORG", "LAKESIDE": "GPE", "PORTMOUTH": "ORG", "EASTFIELD": "GPE"}


@pytest.mark.parametrize("headline", [
    "Riverton Police Detain 3 In Probe Into Harbour Fire That Left 2 Hurt",
    "Senator Vance at Riverton Hall",
    "Lakeside Turns 50",
    "Mara Lindqvist 2, Tomas Ferreira 1",
    "Talks on N. Korea stall as envoy J. Pennock Smith leaves",
])
def test_lone_headlines_are_not_results_or_fixtures(gaz, headline):
    # a layout rule reads blocks of rows; a lone line that looks like one is a headline
    body = headline + "\nThe talks went on in the capital on Monday, officials said."
    assert layout_spans(body, gaz) == {}


def test_datelines_people_with_country_and_initials(gaz):
    body = (
        "KINGSBRIDGE 1996-08-30\n"
        "OSLO (Reuters) - Talks resumed.\n"
        "Mara Lindqvist ( Sweden ) beat Tomas Ferreira ( Portugal ) 6-3\n"
        "Ana Ruiz ( Spain ) beat Lena Berg ( Norway ) 7-5\n"
        "Hartfield 259 ( J. Pennock 56 , A.de Vries 40 ) , Eastbrook 114"
    )
    got = _labelled(body, layout_spans(body, gaz))
    assert got["KINGSBRIDGE"] == got["OSLO"] == "GPE"
    assert got["Mara Lindqvist"] == got["Tomas Ferreira"] == "PERSON"
    assert got["J. Pennock"] == got["A.de Vries"] == "PERSON"
    assert got["Hartfield"] == "ORG"


def test_layout_rules_need_a_block_of_rows(gaz):
    # one results-like line in prose is not a results table: only datelines and initials stay
    body = "OSLO (Reuters) - Talks resumed.\nRiverton 3 Lakeside 1\nJ. Pennock said so."
    assert set(_labelled(body, layout_spans(body, gaz)).values()) == {"GPE", "PERSON"}


def test_initials_rule_skips_known_short_forms(gaz):
    body = "Riverton 259 ( U.S. Steel 56 , J. Pennock 40 )\nLakeside 120 ( K. Amos 20 )"
    got = _labelled(body, layout_spans(body, gaz))
    assert got["J. Pennock"] == got["K. Amos"] == "PERSON"
    assert "U.S. Steel" not in got


def test_harmonise_one_label_per_surface_and_repeats_tagged(gaz):
    body = "Riverton 3 Lakeside 1\nPortmouth 2 Eastfield 2\nRiverton won again. Coach Anna Kovacs praised Riverton. Kovacs smiled."
    forced = layout_spans(body, gaz)
    i = body.index("Riverton won")
    j = body.index("Anna Kovacs")
    ner = [(i, i + 8, "GPE"), (j, j + 11, "PERSON")]
    out = harmonise_spans(body, ner, forced, gaz)
    labels = [(body[s:e], lab) for s, e, lab in out]
    assert labels.count(("Riverton", "ORG")) == 3  # table, relabelled prose, untagged repeat
    assert ("Kovacs", "PERSON") in labels  # family name of a person found earlier
    spans = [(s, e) for s, e, _ in out]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no overlaps


def test_link_article_keeps_club_named_after_a_capital_out_of_the_government(gaz):
    body = "Tokyo 2 Riverton 1\nLakeside 0 Portmouth 0\nJapan and Canada met in Tokyo."
    rows = link_article(body, [], gaz)
    first = next(r for r in rows if r["start_char"] == 0)
    assert first["surface"] == "Tokyo" and first["entity_id"].startswith("ner:org:")
    assert {r["entity_id"] for r in rows if r["surface"] == "Japan"} == {"fp:country/JPN"}


def test_compound_adjective_is_a_modifier_and_scores_trimmed(gaz):
    body = "The Vienna-based group said Riverton 83 was a record."
    spans = [(body.index("Vienna"), body.index("Vienna") + 6, "GPE"),
             (body.index("Riverton"), body.index("Riverton") + 11, "ORG")]
    rows = {r["surface"]: r for r in link_article(body, spans, gaz)}
    assert rows["Vienna"]["mention_kind"] == "modifier"
    assert "Riverton" in rows and "Riverton 83" not in rows


def test_shouting_headline_trusts_the_gazetteer(gaz):
    body = "CRICKET - PAKISTAN WIN TOSS , PUT ENGLAND IN TO BAT ."
    s = body.index("PAKISTAN")
    rows = link_article(body, [(s, s + len("PAKISTAN WIN TOSS"), "ORG")], gaz)
    assert [(r["surface"], r["entity_id"]) for r in rows] == [
        ("PAKISTAN", "fp:country/PAK"), ("ENGLAND", "fp:country/GBR")
    ]
