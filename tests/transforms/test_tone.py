"""Tone: GDELT-like percentages of positive and negative words (VADER lexicon)."""

from hypothesis import given, strategies as st

from transforms.tone import tone_of


def test_percentages_of_words():
    t = tone_of("Peace talks brought hope but the war continued.")  # 8 words: peace, hope +; war -
    assert t["tone_positive"] == round(100 * 2 / 8, 3) and t["tone_negative"] == round(100 / 8, 3)
    assert t["tone"] == round(t["tone_positive"] - t["tone_negative"], 3)
    assert t["tone_polarity"] == round(t["tone_positive"] + t["tone_negative"], 3)


def test_negation_flips_the_word_it_precedes():
    assert tone_of("The talks were not good.")["tone"] < 0 < tone_of("The talks were good.")["tone"]


def test_no_words_no_tone():
    assert tone_of("")["tone"] is None and tone_of("... 123")["tone_polarity"] is None


@given(st.text(max_size=300))
def test_bounds(text):
    t = tone_of(text)
    if t["tone"] is not None:
        assert 0 <= t["tone_positive"] <= 100 and 0 <= t["tone_negative"] <= 100
        assert -100 <= t["tone"] <= 100 and t["tone_polarity"] <= 100.001
