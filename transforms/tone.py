"""Tone: GDELT-like percentages of positive and negative words, from VADER's lexicon.

GDELT's tone (Events ``AvgTone``, GKG ``V2Tone``) is the percentage of an article's words that
carry positive emotional connotation minus the percentage that carry negative connotation,
with their sum as "polarity". fpwatch computes the same four measures with the lexicon that
ships inside the ``vaderSentiment`` wheel (``vader_lexicon.txt``: 7,500 words rated -4..+4 by
human raters, Hutto & Gilbert 2014), read through the package's own analyzer, nothing downloaded:

- a word counts as positive (negative) when its VADER valence is above (below) zero;
- a word preceded within ``NEGATION_WINDOW`` words by one of VADER's negations ("not",
  "didn't", "never", ...) counts with the opposite sign; negation words themselves are not scored;
- ``tone_positive`` / ``tone_negative`` = 100 x such words / all words; ``tone`` = positive -
  negative; ``tone_polarity`` = positive + negative.

The figures are GDELT-like in kind (percentages of words) but not comparable to GDELT's levels:
GDELT uses its own dictionaries (and another tokenisation), so only differences within fpwatch
(between outlets, days, countries) mean something.
"""

from __future__ import annotations

import functools
import re

#: Words before a sentiment word in which a negation flips it (VADER's own rule looks 3 back).
NEGATION_WINDOW = 3

_WORD_RE = re.compile(r"[a-z]+(?:['’][a-z]+)?")


@functools.lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, float], frozenset[str]]:
    from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer

    negations = frozenset(w.replace("'", "") for w in NEGATE) | frozenset(NEGATE) | {"not", "no", "never"}
    lexicon = {w: v for w, v in SentimentIntensityAnalyzer().lexicon.items() if w not in negations}
    return lexicon, negations


def tone_of(text: str) -> dict[str, float | None]:
    """tone, tone_positive, tone_negative, tone_polarity (percent of words) of one text; None when it has no words."""
    lexicon, negations = _lexicon()
    words = [w.replace("’", "'") for w in _WORD_RE.findall((text or "").lower())]
    if not words:
        return {"tone": None, "tone_positive": None, "tone_negative": None, "tone_polarity": None}
    pos = neg = 0
    for i, word in enumerate(words):
        valence = lexicon.get(word)
        if not valence:
            continue
        window = words[max(0, i - NEGATION_WINDOW) : i]
        if any(w in negations or w.replace("'", "") in negations for w in window):
            valence = -valence
        if valence > 0:
            pos += 1
        else:
            neg += 1
    positive, negative = 100.0 * pos / len(words), 100.0 * neg / len(words)
    return {
        "tone": round(positive - negative, 3),
        "tone_positive": round(positive, 3),
        "tone_negative": round(negative, 3),
        "tone_polarity": round(positive + negative, 3),
    }


def score_tone(texts: list[str]) -> list[dict[str, float | None]]:
    """tone_of for each text, in order."""
    return [tone_of(t) for t in texts]
