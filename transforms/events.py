"""Events: who did what to whom, coded from the dependency parse of sentences that name two entities.

``extract_events`` takes a batch's articles and the mentions and entities that
``transforms.entities`` found in them, and returns one row per event: a PLOVER type (with its quad
and a Goldstein-style intensity, ``transforms/data/events.toml``), an actor and a target that are
entities already in ``mentions``, the trigger word with its offsets into the body, negation,
modality and the evidence sentence.

How a sentence is coded:

1. Sentences are the ones ``mentions.sentence_index`` counts (``entities.split_sentences``). Only a
   sentence that holds at least two distinct actor-like entities (people, organisations,
   ministries, countries, groups: not places or events) and a word of the lexicon is parsed, with
   spaCy's parser from the same installed English pipeline as NER (bench/throughput.py measures
   what that costs).
2. A trigger is a token whose lemma is a cue of the lexicon: a verb heading a clause, or a noun
   ("talks", "opposition", "sanctions") that a non-cue verb governs ("voiced its opposition to").
   A noun governed by a cue verb is part of that verb's event ("condemned Russia's attack" is
   ACCUSE, not also ASSAULT).
3. Actors come from the clause's subject (inherited through "agreed to strengthen", conjoined
   verbs and relative pronouns; the "by" phrase of a passive), targets from the direct object, the
   objects of prepositions attached to the trigger, and a passive subject. The entity of a phrase
   is the mention on its head word, its appositions or conjuncts, else the nearest mention among
   its modifiers ("the Japanese government" is Japan). "A and B met" with no other target gives
   A->B and B->A for cues marked mutual; every actor gets its own event.
4. Negation: "not"/"never"/"no" on the trigger or on a verb it depends on, and verbs that cancel
   what they govern ("refused to meet", "failed to agree"): ``negated`` is true.
5. Modality: ``hypothetical`` (could, would, might, may, should, if ...), ``future`` (will, plans
   to, intends to, aims to ...), ``reported`` (the clause is what someone said: a clause under a
   speech verb, inside quotation marks, or a sentence with "according to"), else ``asserted``.
6. Quotes are attributed to the speaker: in quoted or reported speech "we"/"I" is the speaker
   named as the subject of the speech verb; names inside a quote are paired only by the parse of
   the quote, never with the speaker because he spoke.

Differences from PLOVER (README): targets are entities fpwatch resolves (a target PLOVER would
code as "protesters" or "the tanker" is not coded), one actor and one target per row (PLOVER
allows compound actors: fpwatch writes an event per actor and per target), modes and contexts are
not coded, SANCTION counts as material conflict (see the lexicon), and negated or hypothetical
events are kept with a flag instead of dropped.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources

import polars as pl

from transforms.entities import PIPELINE_NAMES, PIP_PACKAGE, split_sentences
from transforms.ids import stable_id
from transforms.tone import score_tone

PLOVER_TYPES = (
    "AGREE", "CONSULT", "SUPPORT", "CONCEDE", "COOPERATE", "AID", "RETREAT", "DEMAND", "ACCUSE", "REJECT",
    "THREATEN", "PROTEST", "SANCTION", "MOBILIZE", "COERCE", "ASSAULT",
)
QUADS = ("verbal_cooperation", "material_cooperation", "verbal_conflict", "material_conflict")
MODALITIES = ("asserted", "future", "hypothetical", "reported")

#: Entity kinds that can act or be acted on (places, events and laws cannot: "in Liverpool").
ACTOR_KINDS = frozenset({"person", "country", "org", "ministry", "group"})
#: Mention kinds that are not a reference to the entity as a participant ("Vienna-based").
SKIPPED_MENTION_KINDS = frozenset({"modifier"})
#: Sentences longer than this (characters) are not parsed: run-on tables and lists, not prose
#: (0.3 % of AllSides sentences; the parser's time grows with length).
MAX_SENTENCE_CHARS = 600
#: Texts per nlp.pipe batch for the parser (sentences are short: memory is not the limit).
PARSE_BATCH_SIZE = 128
#: At most this many events from one trigger (actors x targets): a list of ten countries that
#: "condemned" five others is one statement, not fifty events.
MAX_EVENTS_PER_TRIGGER = 12

# Confidence is a documented heuristic, not a calibrated probability: it ranks how direct the
# parse evidence is. Start, then add for each stronger signal.
CONF_BASE = 0.5
CONF_ACTOR_HEAD = 0.15  # the actor is the mention on the subject's head word (not a modifier)
CONF_TARGET_HEAD = 0.15  # the target is the head of the object (not found among its modifiers)
CONF_EXPLICIT_TARGET = 0.1  # a target from the parse, not from "A and B met" (mutual)
CONF_SHORT_SENTENCE = 0.1  # sentences under SHORT_SENTENCE_TOKENS tokens parse more reliably
SHORT_SENTENCE_TOKENS = 30

#: Verbs that cancel the event they govern: "refused to meet", "failed to agree".
NEGATING_HEADS = frozenset({"refuse", "decline", "fail", "avoid", "cancel", "postpone", "deny", "reject", "halt"})
HYPOTHETICAL_AUX = frozenset({"could", "would", "might", "may", "should", "can", "must"})
#: Heads that make what they govern hypothetical ("considering imposing", "threatened to expel"
#: is coded THREATEN; the expulsion it names is not asserted).
HYPOTHETICAL_HEADS = frozenset({"consider", "weigh", "mull", "propose", "suggest", "threaten", "debate"})
FUTURE_AUX = frozenset({"will", "shall", "'ll", "wo"})
FUTURE_HEADS = frozenset({
    "plan", "intend", "aim", "expect", "hope", "want", "seek", "prepare", "schedule", "set", "agree", "vow",
    "pledge", "promise", "offer", "decide", "arrange", "go", "try", "attempt", "wish", "look",
})
SPEECH_VERBS = frozenset({
    "say", "tell", "state", "add", "announce", "report", "claim", "note", "write", "insist", "stress", "explain",
    "declare", "confirm", "allege", "tweet", "post", "argue", "assert", "believe", "think", "suggest",
})
FIRST_PERSON = frozenset({"we", "i", "us"})
RELATIVE_PRONOUNS = frozenset({"that", "which", "who", "whom"})
SUBJECT_DEPS = ("nsubj", "csubj")
PASSIVE_SUBJECT_DEPS = ("nsubjpass", "csubjpass")
OBJECT_DEPS = ("dobj", "dative", "attr", "obj")
#: Prepositions whose object is the target of a verb's event ("met with", "withdrew from", "fired at").
#: Not "on", "in", "over", "of": "cooperated on drugs", "met on the sidelines of the G7" name the
#: topic or the place; a cue that needs "on" says so ("call" + on).
VERB_TARGET_PREPS = frozenset({"with", "to", "against", "from", "into", "at", "upon", "toward", "towards", "between"})
#: Prepositions whose object is the target of a noun's event ("sanctions on", "talks with", "attack against").
NOUN_TARGET_PREPS = frozenset({
    "with", "to", "against", "on", "at", "over", "into", "upon", "toward", "towards", "of", "for", "near", "from", "between",
})
#: Dependencies followed from a phrase's head when its entity is among its modifiers.
MODIFIER_DEPS = frozenset({"compound", "amod", "poss", "nmod", "appos", "det", "npadvmod", "nummod"})

_QUOTES_RE = re.compile(r"[\"“”]")
#: A dateline opening the body ("LIVERPOOL, England –", "TOKYO (Reuters) --"): its places are not actors.
_DATELINE_RE = re.compile(r"^\s*[A-Z][A-Z .'’-]{2,}(?:,\s*[A-Z][\w .]*?)?\s*(?:\([^)]*\)\s*)?(?:[–—]|--?)\s")
_ACCORDING_RE = re.compile(r"\baccording to\b", re.IGNORECASE)

EVENTS_SCHEMA = {
    "event_id": pl.String,
    "article_id": pl.String,
    "sentence_index": pl.Int32,
    "event_type": pl.String,
    "quad": pl.String,
    "intensity": pl.Float64,
    "actor_entity_id": pl.String,
    "actor_country": pl.String,
    "actor_start": pl.Int64,
    "actor_end": pl.Int64,
    "target_entity_id": pl.String,
    "target_country": pl.String,
    "target_start": pl.Int64,
    "target_end": pl.Int64,
    "trigger": pl.String,
    "trigger_start": pl.Int64,
    "trigger_end": pl.Int64,
    "negated": pl.Boolean,
    "modality": pl.String,
    "evidence": pl.String,
    "sentence_start": pl.Int64,
    "tone": pl.Float64,
    "confidence": pl.Float64,
}


# ------------------------------------------------------------------------------------ lexicon
@dataclass(frozen=True)
class Cue:
    """One trigger of the lexicon (transforms/data/events.toml)."""

    lemma: str
    pos: str
    type: str
    example: str
    counterexample: str
    objects: frozenset[str] = frozenset()
    not_objects: frozenset[str] = frozenset()
    particles: frozenset[str] = frozenset()
    mutual: bool = False
    forms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lexicon:
    """Cues by (lemma, pos), the quad and intensity of each type, and the sentence pre-filter."""

    cues: dict[tuple[str, str], tuple[Cue, ...]]
    quads: dict[str, str]
    intensities: dict[str, float]
    prefilter: re.Pattern
    forms: dict[str, tuple[str, ...]]  # lower-case word form -> the cue lemmas it may inflect

    def all_cues(self) -> list[Cue]:
        return [c for group in self.cues.values() for c in group]


def _inflections(lemma: str) -> set[str]:
    """Regular English forms of a lemma, for the pre-filter only (the parse decides)."""
    forms = {lemma, lemma + "s", lemma + "es", lemma + "ed", lemma + "d", lemma + "ing"}
    if lemma.endswith("e"):
        forms |= {lemma[:-1] + "ing", lemma + "d"}
    if lemma.endswith("y"):
        forms |= {lemma[:-1] + "ies", lemma[:-1] + "ied"}
    if re.search(r"[^aeiou][aeiou][bdglmnprt]$", lemma):  # "ban" -> banned, "expel" -> expelled
        forms |= {lemma + lemma[-1] + "ed", lemma + lemma[-1] + "ing"}
    if lemma.endswith("ize"):
        stem = lemma[:-3] + "is"
        forms |= {stem + "e", stem + "ed", stem + "es", stem + "ing"}
    return forms


def build_lexicon(data: dict) -> Lexicon:
    """Validate the parsed events.toml and index its cues."""
    types = data["types"]
    if set(types) != set(PLOVER_TYPES):
        raise ValueError(f"events.toml must define exactly the 16 PLOVER types, got {sorted(types)}")
    quads, intensities = {}, {}
    for name, spec in types.items():
        if spec["quad"] not in QUADS:
            raise ValueError(f"{name}: unknown quad {spec['quad']!r}")
        if not -10 <= float(spec["intensity"]) <= 10:
            raise ValueError(f"{name}: intensity outside -10..10")
        quads[name], intensities[name] = spec["quad"], float(spec["intensity"])
    cues: dict[tuple[str, str], list[Cue]] = defaultdict(list)
    words: set[str] = set()
    forms: dict[str, set[str]] = defaultdict(set)
    for raw in data["cues"]:
        if raw["type"] not in types or raw["pos"] not in ("verb", "noun"):
            raise ValueError(f"cue {raw.get('lemma')!r}: bad type or pos")
        if not raw.get("example") or not raw.get("counterexample"):
            raise ValueError(f"cue {raw['lemma']!r}: an example and a counterexample are required")
        cue = Cue(
            lemma=raw["lemma"], pos=raw["pos"], type=raw["type"], example=raw["example"],
            counterexample=raw["counterexample"], objects=frozenset(raw.get("object", ())),
            not_objects=frozenset(raw.get("not_object", ())), particles=frozenset(raw.get("particle", ())),
            mutual=bool(raw.get("mutual", False)), forms=tuple(raw.get("forms", ())),
        )
        cues[(cue.lemma, cue.pos)].append(cue)
        inflected = _inflections(cue.lemma) | set(cue.forms)
        words |= inflected
        for form in inflected:
            forms[form.lower()].add(cue.lemma)
    prefilter = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b",
                           re.IGNORECASE)
    return Lexicon({k: tuple(v) for k, v in cues.items()}, quads, intensities, prefilter,
                   {k: tuple(sorted(v)) for k, v in forms.items()})


@functools.lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Read and index transforms/data/events.toml (cached)."""
    text = resources.files("transforms").joinpath("data", "events.toml").read_text(encoding="utf-8")
    return build_lexicon(tomllib.loads(text))


def load_parser(name: str | None = None):
    """The installed English spaCy pipeline with only the tagger and the dependency parser (and
    the tok2vec they share): no NER, no attribute_ruler or lemmatizer (see IRREGULAR)."""
    import importlib

    import spacy

    candidates = (name,) if name else PIPELINE_NAMES
    keep = {"tok2vec", "tagger", "parser"}
    for cand in candidates:
        try:
            nlp = importlib.import_module(cand).load()
        except ImportError:
            try:
                nlp = spacy.load(cand)
            except (OSError, ImportError):
                continue
        for pipe in list(nlp.pipe_names):
            if pipe not in keep:
                nlp.remove_pipe(pipe)
        return nlp
    raise RuntimeError(f"No English spaCy pipeline found (tried {', '.join(candidates)}). Install: pip install {PIP_PACKAGE}")


# ------------------------------------------------------------------------------------ coding
@dataclass
class _Mention:
    start: int  # token index in the sentence doc
    end: int
    entity_id: str
    country: str | None
    char_start: int  # offsets into the body
    char_end: int


@dataclass
class _Arg:
    mention: _Mention
    head: bool  # found on the phrase's head word (not among its modifiers)
    speaker: bool = False  # "we"/"I" of quoted or reported speech, resolved to who spoke
    between: bool = False  # the object of "between" ("talks between A and B")


def extract_events(
    articles: pl.DataFrame, mentions: pl.DataFrame, entities: pl.DataFrame, nlp, lexicon: Lexicon | None = None,
) -> pl.DataFrame:
    """Code events in article bodies.

    articles: article_id, body. mentions: article_id, entity_id, start_char, end_char, sentence_index,
    mention_kind (optional). entities: entity_id, kind, country_code.
    -> one row per event, columns of EVENTS_SCHEMA (offsets are Python str offsets into body:
    ``body[trigger_start:trigger_end] == trigger``; evidence is the sentence, ``sentence_start`` its offset).
    """
    lexicon = lexicon or load_lexicon()
    if articles.height == 0 or mentions.height == 0:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    ent = {r["entity_id"]: r for r in entities.select("entity_id", "kind", "country_code").iter_rows(named=True)}
    cols = ["article_id", "entity_id", "start_char", "end_char", "sentence_index"]
    if "mention_kind" in mentions.columns:
        cols.append("mention_kind")
    by_sentence: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for m in mentions.select(cols).iter_rows(named=True):
        info = ent.get(m["entity_id"])
        if info is None or info["kind"] not in ACTOR_KINDS or m.get("mention_kind") in SKIPPED_MENTION_KINDS:
            continue
        by_sentence[(m["article_id"], m["sentence_index"])].append({**m, "country": info["country_code"]})

    jobs: list[tuple[str, int, int, str, list[dict]]] = []  # article, sentence, start, text, mentions
    for article_id, body in articles.select("article_id", "body").iter_rows():
        body = body or ""
        starts = split_sentences(body)
        dateline = _DATELINE_RE.match(body)
        for index, start in enumerate(starts):
            found = by_sentence.get((article_id, index))
            if found and index == 0 and dateline:
                found = [m for m in found if m["start_char"] >= dateline.end()]
            if not found or len({m["entity_id"] for m in found}) < 2:
                continue
            end = starts[index + 1] if index + 1 < len(starts) else len(body)
            text = body[start:end].rstrip()
            if len(text) > MAX_SENTENCE_CHARS or not lexicon.prefilter.search(text):
                continue
            jobs.append((article_id, index, start, text, found))

    rows: list[dict] = []
    docs = nlp.pipe((j[3] for j in jobs), batch_size=PARSE_BATCH_SIZE)
    for (article_id, index, start, text, found), doc in zip(jobs, docs):
        for row in code_sentence(doc, start, found, lexicon):
            row.update(article_id=article_id, sentence_index=index, evidence=text, sentence_start=start)
            rows.append(row)
    if not rows:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    tones = score_tone([r["evidence"] for r in rows])
    for row, tone in zip(rows, tones):
        row["tone"] = tone["tone"]
        row["event_id"] = stable_id(
            row["article_id"], str(row["sentence_index"]), str(row["trigger_start"]), row["event_type"],
            row["actor_entity_id"], row["target_entity_id"] or "",
        )
    frame = pl.DataFrame([{k: r.get(k) for k in EVENTS_SCHEMA} for r in rows], schema=EVENTS_SCHEMA)
    return frame.unique("event_id", keep="first", maintain_order=True)


def code_sentence(doc, sentence_start: int, mentions: list[dict], lexicon: Lexicon) -> list[dict]:
    """Events of one parsed sentence (without article_id, sentence_index, evidence, tone, event_id).

    mentions: dicts with entity_id, start_char, end_char (body offsets), country.
    """
    token_mentions = _map_mentions(doc, sentence_start, mentions)
    if not token_mentions:
        return []
    by_token: dict[int, _Mention] = {}
    for m in token_mentions:
        for i in range(m.start, m.end):
            by_token.setdefault(i, m)
    in_quote = _quoted_tokens(doc)
    according = bool(_ACCORDING_RE.search(doc.text))
    short = len(doc) < SHORT_SENTENCE_TOKENS
    out: list[dict] = []
    for tok in doc:
        for cue in _matching_cues(tok, lexicon):
            out.extend(_code_trigger(tok, cue, by_token, in_quote, according, short, sentence_start, lexicon))
    return out


# The parse runs without spaCy's attribute_ruler and lemmatizer: they took two thirds of the
# parser pipeline's time on AllSides sentences (bench/throughput.py --stages). Parts of speech come
# from the tagger's fine-grained tags, lemmas of cue words from the lexicon's own inflections, and
# the few word lists below are matched on the word with regular inflections stripped.
IRREGULAR = {
    "said": "say", "says": "say", "told": "tell", "thought": "think", "wrote": "write", "written": "write",
    "went": "go", "gone": "go", "sought": "seek", "made": "make", "held": "hold", "met": "meet",
}


def _is_verb(tok) -> bool:
    return tok.tag_.startswith("VB") or tok.tag_ == "MD"


def _is_noun(tok) -> bool:
    return tok.tag_.startswith("NN")


def _base_in(tok, words: frozenset[str]) -> bool:
    """Whether the word, with a regular English inflection removed, is one of `words`."""
    w = tok.lower_
    if w in words or IRREGULAR.get(w) in words:
        return True
    for suffix, repl in (("ied", "y"), ("ies", "y"), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"),
                         ("es", ""), ("s", ""), ("d", "")):
        if w.endswith(suffix) and len(w) > len(suffix) + 2:
            stem = w[: -len(suffix)] + repl
            if stem in words or (len(stem) > 3 and stem[-1] == stem[-2] and stem[:-1] in words):
                return True
    return False


def _matching_cues(tok, lexicon: Lexicon) -> list[Cue]:
    text = tok.lower_
    if _is_verb(tok):
        cands = [c for lemma in lexicon.forms.get(text, ()) for c in lexicon.cues.get((lemma, "verb"), ())]
    elif _is_noun(tok):
        cands = [c for lemma in lexicon.forms.get(text, ()) for c in lexicon.cues.get((lemma, "noun"), ())]
        if cands and tok.head is not tok and _is_verb(tok.head) and _matching_cues(tok.head, lexicon):
            return []  # "condemned Russia's attack": the verb's event covers it
    else:
        return []
    out = []
    for cue in cands:
        objects = {w for c in tok.children if c.dep_ in OBJECT_DEPS for w in (c.lower_, c.lower_.removesuffix("s"))}
        if cue.objects and not (objects & cue.objects):
            continue
        if cue.not_objects and objects & cue.not_objects:
            continue
        if cue.particles and not {c.lower_ for c in tok.children if c.dep_ in ("prep", "prt")} & cue.particles:
            continue
        out.append(cue)
    return out


def _map_mentions(doc, sentence_start: int, mentions: list[dict]) -> list[_Mention]:
    out = []
    for m in mentions:
        span = doc.char_span(m["start_char"] - sentence_start, m["end_char"] - sentence_start, alignment_mode="expand")
        if span is None or len(span) == 0:
            continue
        out.append(_Mention(span.start, span.end, m["entity_id"], m["country"], m["start_char"], m["end_char"]))
    return out


def _quoted_tokens(doc) -> set[int]:
    """Token indices between quotation marks (straight or curly)."""
    inside, out = False, set()
    for tok in doc:
        if _QUOTES_RE.fullmatch(tok.text):
            inside = not inside
            continue
        if inside:
            out.add(tok.i)
    return out


def _entities_of(tok, by_token: dict[int, _Mention], depth: int = 0, through_of: bool = True) -> list[_Arg]:
    """The entities a phrase headed by `tok` refers to: its own mention, its conjuncts', else a modifier's."""
    found: list[_Arg] = []
    mention = by_token.get(tok.i)
    if mention is not None:
        found.append(_Arg(mention, True))
    else:
        appos = [c for c in tok.children if c.dep_ == "appos" and c.i in by_token]
        if appos:
            found.append(_Arg(by_token[appos[0].i], True))
        else:
            mod = _modifier_entity(tok, by_token, through_of)
            if mod is not None:
                found.append(_Arg(mod, False))
    if depth < 4:
        for child in tok.children:
            if child.dep_ == "conj":
                found.extend(_entities_of(child, by_token, depth + 1, through_of))
    return found


def _modifier_entity(tok, by_token: dict[int, _Mention], through_of: bool = True) -> _Mention | None:
    """Breadth-first through modifiers (compound, amod, poss, appos, "of"): "the Japanese government".

    through_of: also "the ministers of Japan" (subjects); not for prepositional objects, where "on
    the sidelines of the G7" names a place.
    """
    frontier = [c for c in tok.children if c.dep_ in MODIFIER_DEPS or (through_of and c.dep_ == "prep" and c.lower_ == "of")]
    seen = 0
    while frontier and seen < 20:
        nxt = []
        for c in frontier:
            seen += 1
            if c.i in by_token:
                return by_token[c.i]
            nxt.extend(g for g in c.children if g.dep_ in MODIFIER_DEPS or g.dep_ == "pobj")
        frontier = nxt
    return None


def _clause_head(tok):
    """The verb whose clause a noun trigger belongs to ("voiced its opposition" -> voiced)."""
    head = tok
    while head.dep_ in ("dobj", "pobj", "prep", "attr", "conj", "appos", "compound") and head.head is not head:
        head = head.head
        if _is_verb(head):
            return head
    return head if _is_verb(head) else None


def _subject_chain(verb):
    """Walk from a verb to the verb that carries its subject ("agreed to strengthen", "met and discussed")."""
    cur = verb
    for _ in range(6):
        if any(c.dep_ in SUBJECT_DEPS + PASSIVE_SUBJECT_DEPS for c in cur.children):
            return cur
        if cur.dep_ in ("xcomp", "conj", "advcl", "acomp") and cur.head is not cur:
            cur = cur.head
            continue
        if cur.dep_ == "relcl":
            return cur
        return cur
    return cur


def _actors_of_verb(verb, by_token) -> tuple[list[_Arg], list[_Arg]]:
    """(actors, passive-subject targets) of the clause of `verb`."""
    carrier = _subject_chain(verb)
    actors: list[_Arg] = []
    passive_targets: list[_Arg] = []
    for c in carrier.children:
        if c.dep_ in SUBJECT_DEPS:
            if c.lower_ in RELATIVE_PRONOUNS and carrier.dep_ == "relcl":
                actors.extend(_entities_of(carrier.head, by_token))
            elif c.lower_ in FIRST_PERSON:
                speaker = _speaker_of(carrier, by_token)
                if speaker is not None:
                    actors.append(_Arg(speaker, True, speaker=True))
            else:
                actors.extend(_entities_of(c, by_token))
        elif c.dep_ in PASSIVE_SUBJECT_DEPS:
            passive_targets.extend(_entities_of(c, by_token))
    if carrier.dep_ == "relcl" and not actors and not passive_targets:
        actors.extend(_entities_of(carrier.head, by_token))
    for c in verb.children:  # passive agent: "was criticized by Japan"
        if c.dep_ == "agent":
            for p in c.children:
                if p.dep_ == "pobj":
                    actors.extend(_entities_of(p, by_token))
    return actors, passive_targets


def _speaker_of(tok, by_token) -> _Mention | None:
    """The named subject of the speech verb a clause hangs from (for "we"/"I" in quotes)."""
    cur = tok
    for _ in range(6):
        if cur.head is cur:
            break
        if cur.dep_ in ("ccomp", "parataxis") and _base_in(cur.head, SPEECH_VERBS):
            for c in cur.head.children:
                if c.dep_ in SUBJECT_DEPS:
                    ents = _entities_of(c, by_token)
                    if ents:
                        return ents[0].mention
            return None
        cur = cur.head
    # "We condemn X," Blinken said: the quote is a ccomp of the root speech verb
    root = tok.doc[:].root
    if _base_in(root, SPEECH_VERBS) and root is not tok:
        for c in root.children:
            if c.dep_ in SUBJECT_DEPS:
                ents = _entities_of(c, by_token)
                if ents:
                    return ents[0].mention
    return None


def _targets_of(tok, by_token, particles: frozenset[str] = frozenset(), depth: int = 0) -> list[_Arg]:
    """Targets of a verb: its objects' entities, objects of its prepositions, the subject of a
    "that" clause; else entities attached to its object ("lifted restrictions on Japan", "cut ties
    with Taiwan") or the targets of the verb it governs ("pledged to work with Mexico")."""
    targets = _direct_targets(tok, by_token, particles)
    if targets:
        return targets
    for c in tok.children:
        if c.dep_ in OBJECT_DEPS:
            for prep in c.children:
                if prep.dep_ == "prep" and prep.lower_ in NOUN_TARGET_PREPS:
                    for p in prep.children:
                        if p.dep_ == "pobj":
                            targets.extend(_entities_of(p, by_token, through_of=False))
    if not targets and depth < 2:
        for c in tok.children:
            if c.dep_ == "xcomp":
                targets.extend(_targets_of(c, by_token, frozenset(), depth + 1))
    return targets


def _direct_targets(tok, by_token, particles: frozenset[str]) -> list[_Arg]:
    targets: list[_Arg] = []
    for c in tok.children:
        if c.dep_ in OBJECT_DEPS:
            targets.extend(_entities_of(c, by_token))
        elif c.dep_ in ("prep", "prt") and (c.lower_ in VERB_TARGET_PREPS or c.lower_ in particles):
            for p in c.children:
                if p.dep_ == "pobj":
                    targets.extend(_entities_of(p, by_token, through_of=False))
        elif c.dep_ == "ccomp" and _is_verb(c):  # "demanded that Belarus stop"
            for s in c.children:
                if s.dep_ in SUBJECT_DEPS:
                    targets.extend(_entities_of(s, by_token))
    return targets


def _noun_roles(tok, by_token) -> tuple[list[_Arg], list[_Arg]]:
    """Actors and targets of a noun trigger: possessor or "by" phrase / the prepositional objects."""
    actors: list[_Arg] = []
    targets: list[_Arg] = []
    for c in tok.children:
        if c.dep_ == "poss" and c.lower_ not in ("its", "their", "his", "her", "our", "my"):
            actors.extend(_entities_of(c, by_token))
        elif c.dep_ == "prep" and c.lower_ == "by":
            for p in c.children:
                if p.dep_ == "pobj":
                    actors.extend(_entities_of(p, by_token))
        elif c.dep_ == "prep" and c.lower_ in NOUN_TARGET_PREPS:
            for p in c.children:
                if p.dep_ == "pobj":
                    found = _entities_of(p, by_token, through_of=False)
                    if c.lower_ == "between":
                        found = [_Arg(a.mention, a.head, between=True) for a in found]
                    targets.extend(found)
        elif c.dep_ in ("compound", "amod") and c.i in by_token:  # "the Russian attack"
            actors.append(_Arg(by_token[c.i], True))
    return actors, targets


def _negated(trigger, clause) -> bool:
    chain = [trigger]
    if clause is not None and clause is not trigger:
        chain.append(clause)
    cur = clause if clause is not None else trigger
    for _ in range(4):  # heads the event depends on: "did not agree to meet", "refused to meet"
        if cur.dep_ in ("xcomp", "ccomp", "conj", "advcl") and cur.head is not cur and _is_verb(cur.head):
            cur = cur.head
            if _base_in(cur, NEGATING_HEADS) and cur is not trigger:
                return True
            if cur.dep_ == "ROOT" or _base_in(cur, SPEECH_VERBS):
                break
            chain.append(cur)
        else:
            break
    for tok in chain:
        for c in tok.children:
            if c.dep_ == "neg" or (c.dep_ == "det" and c.lower_ == "no" and tok is trigger):
                return True
            if c.dep_ == "prep" and c.lower_ == "without" and tok is trigger:
                return True
    return trigger.head.lower_ == "without"


def _modality(trigger, clause, in_quote: set[int], according: bool) -> str:
    base = clause if clause is not None else trigger
    chain = [trigger, base]
    cur = base
    reported = according or trigger.i in in_quote
    for _ in range(6):
        if cur.head is cur:
            break
        if cur.dep_ in ("ccomp", "parataxis") and _base_in(cur.head, SPEECH_VERBS):
            reported = True
            break
        if cur.dep_ in ("xcomp", "conj", "advcl", "ccomp", "acl", "pcomp"):
            cur = cur.head
            chain.append(cur)
            continue
        break
    if cur.dep_ == "ROOT" and _base_in(cur, SPEECH_VERBS) and cur is not base:
        reported = True
    hypothetical = future = False
    for i, tok in enumerate(chain):
        for c in tok.children:
            low = c.lower_
            if c.dep_ == "aux" or c.tag_ == "MD":
                if low in HYPOTHETICAL_AUX:
                    hypothetical = True
                elif low in FUTURE_AUX:
                    future = True
            if c.dep_ == "mark" and low in ("if", "unless", "whether"):
                hypothetical = True
        if i >= 2 or (tok is not trigger and tok is not base):
            if _base_in(tok, HYPOTHETICAL_HEADS) and tok is not trigger:
                hypothetical = True
            elif _base_in(tok, FUTURE_HEADS) and tok is not trigger:
                future = True
    if hypothetical:
        return "hypothetical"
    if future:
        return "future"
    return "reported" if reported else "asserted"


def _code_trigger(tok, cue: Cue, by_token, in_quote, according: bool, short: bool, offset: int, lexicon: Lexicon) -> list[dict]:
    if cue.pos == "verb":
        clause = tok
        actors, targets = _actors_of_verb(tok, by_token)
        targets = targets + _targets_of(tok, by_token, cue.particles)
    else:
        clause = _clause_head(tok)
        actors, targets = _noun_roles(tok, by_token)
        between = [t for t in targets if t.between]
        if cue.mutual and len(between) > 1 and not actors:  # "the agreement between Iraq and the KRG"
            actors, targets = between, []
        elif not actors and clause is not None:
            actors, _ = _actors_of_verb(clause, by_token)
    # quotes: a name inside the quote is not the actor of a trigger outside it, nor the reverse
    if tok.i in in_quote:
        actors = [a for a in actors if a.mention.start in in_quote or a.speaker]
        targets = [t for t in targets if t.mention.start in in_quote]
    else:
        actors = [a for a in actors if a.mention.start not in in_quote]
        targets = [t for t in targets if t.mention.start not in in_quote]
    actors = _dedupe(actors)
    targets = [t for t in _dedupe(targets) if all(t.mention.entity_id != a.mention.entity_id for a in actors) or len(actors) > 1]
    if not actors:
        return []
    pairs: list[tuple[_Arg, _Arg | None, bool]] = []
    if targets:
        pairs = [(a, t, True) for a in actors for t in targets if a.mention.entity_id != t.mention.entity_id]
    elif cue.mutual and len(actors) > 1:
        pairs = [(a, b, False) for a in actors for b in actors if a.mention.entity_id != b.mention.entity_id]
    else:
        return []  # an event needs someone it is done to (a one-sided statement is not coded)
    negated = _negated(tok, clause)
    modality = _modality(tok, clause, in_quote, according)
    trig_start, trig_end = tok.idx, tok.idx + len(tok.text)
    if cue.objects:  # "held talks": the trigger spans the verb and its object
        obj = next((c for c in tok.children if c.dep_ in OBJECT_DEPS and (c.lower_ in cue.objects or c.lower_.removesuffix("s") in cue.objects)), None)
        if obj is not None and obj.i > tok.i:
            trig_end = obj.idx + len(obj.text)
    doc_text = tok.doc.text
    out = []
    for actor, target, explicit in pairs[:MAX_EVENTS_PER_TRIGGER]:
        conf = CONF_BASE + (CONF_ACTOR_HEAD if actor.head else 0.0)
        conf += (CONF_TARGET_HEAD if target.head else 0.0) + (CONF_EXPLICIT_TARGET if explicit else 0.0)
        conf += CONF_SHORT_SENTENCE if short else 0.0
        out.append({
            "event_type": cue.type,
            "quad": lexicon.quads[cue.type],
            "intensity": lexicon.intensities[cue.type],
            "actor_entity_id": actor.mention.entity_id,
            "actor_country": actor.mention.country,
            "actor_start": actor.mention.char_start,
            "actor_end": actor.mention.char_end,
            "target_entity_id": target.mention.entity_id,
            "target_country": target.mention.country,
            "target_start": target.mention.char_start,
            "target_end": target.mention.char_end,
            "trigger": doc_text[trig_start:trig_end],
            "trigger_start": offset + trig_start,
            "trigger_end": offset + trig_end,
            "negated": negated,
            "modality": modality,
            "confidence": round(min(conf, 1.0), 2),
        })
    return out


def _dedupe(args: list[_Arg]) -> list[_Arg]:
    seen: dict[str, _Arg] = {}
    for a in args:
        if a.mention.entity_id not in seen or (a.head and not seen[a.mention.entity_id].head):
            seen[a.mention.entity_id] = a
    return list(seen.values())
