"""The matching machinery behind linking (issue 12, item 7): Aho-Corasick automata read as whole
words, leftmost then longest, a cache of short texts, and the upper-case line test, each checked
against the plain definition it replaced."""

import random
import re

import pytest

from transforms.entity_rules import SHOUT_MIN_LETTERS, SHOUT_MIN_UPPER_SHARE, is_shouting
from transforms.gazetteer import FIND_CACHE_MAX_CHARS, load_gazetteer, normalize_key


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


def _found(gaz, text):
    return [(m.start, m.end, m.surface) for m in gaz.find(text)]


def test_find_reads_whole_words_leftmost_then_longest(gaz):
    text = "the United States and the U.S. envoy @US #UK &Japan Japan_x, Japan@ Japan."
    assert [s for _, _, s in _found(gaz, text)] == ["United States", "U.S.", "Japan"]
    assert _found(gaz, text)[-1][:2] == (len(text) - 6, len(text) - 1)


def test_find_gives_the_same_matches_for_short_and_long_texts(gaz):
    short = "Blinken met Hayashi in Tokyo"
    assert len(short) <= FIND_CACHE_MAX_CHARS
    long = " " * (FIND_CACHE_MAX_CHARS + 1) + short  # too long for the cache
    offset = FIND_CACHE_MAX_CHARS + 1
    first = _found(gaz, short)
    assert first and first == _found(gaz, short)  # a remembered text gives the same answer
    assert [(s + offset, e + offset, t) for s, e, t in first] == _found(gaz, long)
    gaz.find(short).clear()  # callers get their own list
    assert _found(gaz, short) == first


def test_large_cities_are_title_case_whole_words(gaz):
    text = "Aleppo, aleppo, Aleppo-based, Lagos.com, Cairo's, xLagos, Lagos."
    found = gaz.find_large_cities(text, 1_000_000)
    assert [text[s:e] for s, e in found] == ["Aleppo", "Lagos"]
    assert found[-1] == (len(text) - 6, len(text) - 1)


def test_normalize_key_ascii_shortcut_matches_the_unicode_path():
    assert normalize_key("  Saint   Kitts`s ") == "saint kitts's"
    assert normalize_key("SÃO  Paulo") == "sao paulo" == normalize_key("Sao Paulo")


def _shouting_by_definition(line):
    letters = sum(c.isalpha() for c in line)
    return letters >= SHOUT_MIN_LETTERS and sum(c.isupper() for c in line) >= SHOUT_MIN_UPPER_SHARE * letters


def test_is_shouting_counts_letters_as_str_methods_do():
    assert is_shouting("“NATO SUMMIT OPENS IN VILNIUS”")
    assert is_shouting("ÉTATS-UNIS ET JAPON")
    assert is_shouting("ΑΘΗΝΑ ΚΑΙ ΡΩΜΗ")
    assert not is_shouting("Tokyo said on Monday — “NATO”")
    rnd = random.Random(12)
    alphabet = "aAzZéÉß1 .-“”ΣσǅⒶ²中\x00\x7f"
    lines = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 16))) for _ in range(20_000)]
    assert [is_shouting(x) for x in lines] == [_shouting_by_definition(x) for x in lines]
    assert any(is_shouting(x) for x in lines) and not all(is_shouting(x) for x in lines)


def test_no_break_spaces_match_where_the_alias_has_a_space(gaz):
    assert [s for _, _, s in _found(gaz, "the United\u202fStates and United\u2009States")] == [
        "United\u202fStates", "United\u2009States"]
    assert not re.search("United", " ".join(s for _, _, s in _found(gaz, "United\tStates")))


def test_office_titles_found_by_the_automaton_are_what_the_title_pattern_finds():
    gaz = load_gazetteer()
    text = ("The Foreign Minister met the prime minister, ex-President Obama and UN Secretary-General "
            "Guterres; the Minister of Foreign Affairs' aide, Ministers and the Vice President-elect.")
    expected = [(m.start(), m.end(), m.group(0)) for m in gaz.role_pattern.finditer(text)]
    assert gaz.find_roles(text) == expected
    assert [t for _, _, t in expected] == ["Foreign Minister", "prime minister", "Secretary-General",
                                           "Minister of Foreign Affairs"]  # not "President-elect"
    assert gaz.may_hold_role("Ministers") and not gaz.may_hold_role("Antony Blinken")


def test_an_arabic_place_name_is_found_whatever_the_form_of_its_article():
    gaz = load_gazetteer()
    hilla = gaz.lookup_place("Al Hilla")
    assert hilla and gaz.lookup_place("al-Hilla") == hilla and gaz.lookup_place("Hilla") == hilla
    assert gaz.lookup_place("ar-Raqqa") == gaz.lookup_place("Raqqa") != ()
    assert gaz.lookup_place("Al Gore") == gaz.places.get("al gore", ())  # "Al " with a space is a given name
