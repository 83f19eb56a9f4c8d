"""Rules around the NER model: layout-aware spans and one reading per name per article.

The small spaCy model reads running prose well but not the layouts of wire copy: upper-case
headlines and datelines, sports results and league tables ("Bury 4 Bristol City 0": clubs named
after towns are organisations there), results lists ("Jansher Khan ( Pakistan )": a person), and
it labels the same name differently in two sentences of one article. These pure functions fix
that on the character offsets of the article body, before linking:

- ``soften_shouting(text)``: the text the NER model reads (upper-case lines title-cased, same
  length, so offsets do not move).
- ``layout_spans(body, gaz)``: spans found by layout rules, each ``(start, end, label)``;
  ``FORCED`` labels beat both the NER model and a gazetteer metonym.
- ``harmonise_spans(body, spans, forced, gaz)``: merge NER and layout spans, give each surface
  one label per article (majority with a margin), and tag later unlabelled repeats of a name.
Measured on CoNLL-2003 dev and re3d with ``bench/ner.py``.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict

from transforms.gazetteer import NAME, Gazetteer

# --------------------------------------------------------------------------------------------
# upper-case lines

# Upper-case lines: at least this many letters, this share upper-case (calibrated on CoNLL dev
# headlines; a line with one acronym such as "NATO said" stays as written).
SHOUT_MIN_LETTERS = 6
SHOUT_MIN_UPPER_SHARE = 0.8
# Capital words this short are kept (acronyms: UN, NFL, USA); longer ones are title-cased.
SHOUT_KEEP_ACRONYM_CHARS = 3
_SHOUT_HINT_RE = re.compile(r"[A-Z]{4}")
# bytes to delete from an ASCII text to count its letters / its capitals (is_shouting)
_NOT_ASCII_LETTER = bytes(c for c in range(128) if not chr(c).isalpha())
_NOT_ASCII_UPPER = bytes(c for c in range(128) if not chr(c).isupper())
_ASCII_RUN_RE = re.compile(r"[\x00-\x7f]+")
_LINE_RE = re.compile(r"[^\n]+")
_SHOUT_WORD_RE = re.compile(r"[A-Z][A-Z]+")
# Function words of headlines that would otherwise read as acronyms ("WIN TOSS , PUT ENGLAND IN").
_SHOUT_KEEP_LOWER = frozenset(
    "A AN THE IN TO AT OF ON BY AS AND OR FOR V VS IS BE UP OUT OFF NOT NO ITS HIS HER WIN WON GET "
    "SET BAT PUT TOP NEW OLD TWO ONE SIX TEN END CUT BID SAY SEE NOW LAW WAR SAYS WITH FROM OVER "
    "INTO AFTER".split()
)


def soften_shouting(text: str) -> str:
    """Title-case upper-case lines (wire headlines, datelines, sports tables) for the NER model,
    keeping every offset: the small model reads 'MILAN 'S LENTINI MOVES' as one ORG but
    'Milan 's Lentini Moves' as names. Short all-capital words (acronyms: NFL, UN) stay."""
    if not _SHOUT_HINT_RE.search(text):
        return text
    return _LINE_RE.sub(_soften_line, text)


def is_shouting(line: str) -> bool:
    """Whether a line is written in capitals (a wire headline or table)."""
    # str.isalpha/str.isupper counts, the ASCII part counted by bytes.translate in C: it runs on
    # every line of most articles and on the line of every NER span (a third of linking time in
    # a per-character generator, profiled on AllSides 2026-12, issue 12; 5x faster, same counts)
    ascii_part = line.encode("ascii", "ignore")
    letters = len(ascii_part.translate(None, _NOT_ASCII_LETTER))
    upper = len(ascii_part.translate(None, _NOT_ASCII_UPPER))
    if not line.isascii():
        rest = _ASCII_RUN_RE.sub("", line)
        letters += sum(map(str.isalpha, rest))
        upper += sum(map(str.isupper, rest))
    return letters >= SHOUT_MIN_LETTERS and upper >= SHOUT_MIN_UPPER_SHARE * letters


def _soften_line(m: re.Match) -> str:
    line = m.group(0)
    if not is_shouting(line):
        return line
    return _SHOUT_WORD_RE.sub(_soften_word, line)


def _soften_word(m: re.Match) -> str:
    word = m.group(0)
    if word in _SHOUT_KEEP_LOWER:
        return word.lower()
    if len(word) <= SHOUT_KEEP_ACRONYM_CHARS:
        return word
    return word[0] + word[1:].lower()


# --------------------------------------------------------------------------------------------
# layout rules

# A name as written in results and tables: capitalised words, particles, "( BJ )" qualifiers.
_TEAM = r"[A-Z][\w.'&/-]*(?: (?:[A-Z][\w.'&/-]*|of|de|del|la|van|von|der|'s|\( [A-Z][A-Za-z]* \)))*"
_PERSON = r"[A-Z][\w'-]*\.?(?: (?:[A-Z][\w'-]*\.?|de|da|van|von|der|el|bin|al))*"
# "Bury 4 Bristol City 0", "Atlanta 5 PITTSBURGH 1 ( halftime 1-0 )"
_RESULT_RE = re.compile(rf"^(?P<a>{_TEAM}) \d+ (?P<b>{_TEAM}) \d+(?: .*)?$")
# "Plymouth 4 3 1 0 10 6 10", "NEW YORK 74 59 .556 -": a row of a league table
_TABLE_RE = re.compile(rf"^(?P<a>{_TEAM})(?P<nums>(?: [-\d./]+)+)$")
# "BOSTON AT OAKLAND", "East Fife v Clydebank"
_FIXTURE_RE = re.compile(rf"(?:^|: |, )(?P<a>{_TEAM}) (?:AT|at|v|vs\.?) (?P<b>{_TEAM})(?= ,|$)")
# What every fixture / initial-and-name holds, searched first: the full patterns are slow on prose
# lines, which seldom hold these (layout rules 0.74 -> 0.43 CPU s per 1,000 AllSides articles).
_FIXTURE_HINT_RE = re.compile(r" (?:AT|at|v|vs) | vs\. ")
_INITIAL_HINT_RE = re.compile(r"[A-Z]\.")
# A league-table row has at least this many whole numbers (wins, draws, points); rows of
# figures such as "M1 63.02 62.83" (money supply) have none.
TABLE_MIN_INTEGERS = 2
# "K. Curran", "A.de Silva", "J.P. Duminy": initials then a family name are a person.
_INITIAL_NAME_RE = re.compile(r"(?<![\w.])(?P<ini>(?:[A-Z]\. ?){1,2})(?:(?:de|da|van|von|di|du|le) ?)?[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?!\w|\.\w)")
# "Glamorgan 259 and 207 , Durham 114", "Middlesex 20 points , Hampshire 5 .": a side and its
# score in a list of results.
_TEAM_SCORE_RE = re.compile(
    rf"(?:^|: |, )(?P<a>{_TEAM}) \d+(?:-\d+)?(?: and \d+(?:-\d+)?| points)?(?= ,| \.|$| \(| ;)"
)
# "Jansher Khan ( Pakistan )", "Lindsay Davenport (U.S.)": a person in a results list.
_NAME_COUNTRY_RE = re.compile(rf"(?<![\w.])(?P<a>{_PERSON}) ?\( ?(?P<c>[A-Z][\w.]*(?: [A-Z][\w.]*)*) ?\)")
# Words that make a name an organisation rather than a person ("Dinamo ( Russia )" is one word
# and is left alone anyway).
_ORG_WORDS = frozenset(
    "Party Club Bank Union United City FC Inc Corp Ltd Group Council Team Association Airlines "
    "Company Co Front Army Movement Committee Ministry Agency University Institute".split()
)
# Dateline: "LONDON 1996-08-30", "URUS-MARTAN , Russia 1996-08-31", "TOKYO (Reuters) -",
# "WASHINGTON, Jan 5 (Reuters) -", "BEIJING — ".
_DATELINE_RE = re.compile(
    r"^(?P<a>[A-Z][A-Z.'-]+(?: [A-Z][A-Z.'-]+){0,3})(?: ?, (?P<b>[A-Z][A-Za-z.]+(?: [A-Z][A-Za-z.]+)?))?"
    r"(?: ?, [A-Z][a-z]{2,8}\.? \d{1,2})?"
    r"(?= \d{4}-\d{2}-\d{2}$| ?\((?:Reuters|AP|AFP|Kyodo|Xinhua|UPI|dpa)\)| ?[—–] | -- )"
)

# The layout rules apply to a text with at least this many lines of results/tables/fixtures/
# scores/results lists (sports pages); below that only datelines are read.
LAYOUT_MIN_ROWS = 2
_ROW_RULES = frozenset({"result", "table", "fixture", "team_score", "name_country"})
# Title-case function words of headlines, never inside a row of results (a line may open with one:
# "In tennis , ...", "At Hove : ...").
_HEADLINE_WORDS = frozenset("In Into To At After With Over From That Least For On By Up As Is Are".split())
# Separators of a fixture ("Riverton v Lakeside", "BOSTON AT OAKLAND"); "vs." and lower-case
# "at" are headlines on AllSides ("X vs. Reality", "Trump at War": 14 of 14 firings wrong).
_FIXTURE_SEPARATORS = frozenset({"v", "AT"})
# Dotted abbreviations the initials rule must not read as a first name.
_NOT_INITIALS = frozenset({"A.M.", "P.M.", "D.C.", "L.A.", "Q.", "U.S.", "G.I."})

#: Labels set by a layout rule: they beat the NER model and gazetteer metonyms.
FORCED_ORG, FORCED_PERSON, FORCED_PLACE = "ORG", "PERSON", "GPE"


def layout_spans(body: str, gaz: Gazetteer) -> dict[tuple[int, int], str]:
    """Spans ``{(start, end): label}`` that the layout of the text decides: datelines (places),
    sports results/tables/fixtures (clubs: ORG; a country stays a country), and a person's name
    followed by a country in brackets in results lists."""
    return {span: label for span, (label, _) in explain_layout_spans(body, gaz).items()}


def explain_layout_spans(body: str, gaz: Gazetteer) -> dict[tuple[int, int], tuple[str, str]]:
    """``layout_spans`` with the name of the rule that decided each span (for audits)."""
    out: dict[tuple[int, int], str] = {}
    why: dict[tuple[int, int], str] = {}
    for line_m in _LINE_RE.finditer(body):
        stripped, base = line_m.group(0).rstrip(), line_m.start()
        dm = _DATELINE_RE.match(stripped)
        if dm and base == _line_start(body, base):
            for g in ("a", "b"):
                if dm.group(g):
                    out[(base + dm.start(g), base + dm.end(g))] = FORCED_PLACE
                    why[(base + dm.start(g), base + dm.end(g))] = "dateline"
            continue
        if _HEADLINE_WORDS.intersection(stripped.split()[1:]):
            continue  # "Death Toll In ... Rises To 41": capitalised function words make a headline
        teams = []
        rule = "result"
        m = _RESULT_RE.match(stripped)
        if m:
            teams = [m.span("a"), m.span("b")]
        else:
            m = _TABLE_RE.match(stripped)
            rule = "table"
            if m and sum(tok.isdigit() for tok in m.group("nums").split()) >= TABLE_MIN_INTEGERS:
                teams = [m.span("a")]
            else:
                rule = "fixture"
                for fm in _FIXTURE_RE.finditer(stripped) if _FIXTURE_HINT_RE.search(stripped) else ():
                    if stripped[fm.end("a") : fm.start("b")].strip() not in _FIXTURE_SEPARATORS:
                        continue  # "Hillary Clinton vs. Reality", "Trump at War": headlines
                    teams.append(fm.span("a"))
                    if fm.group(0).split()[-2 - fm.group("b").count(" ")].lower() == "at":
                        # "BOSTON AT OAKLAND": the second name is where the game is played
                        s, e = fm.span("b")
                        if not _is_country(stripped[s:e], gaz):
                            out[(base + s, base + e)] = FORCED_PLACE
                            why[(base + s, base + e)] = "fixture_venue"
                    else:
                        teams.append(fm.span("b"))
        for im in _INITIAL_NAME_RE.finditer(stripped) if _INITIAL_HINT_RE.search(stripped) else ():
            if stripped[: im.start()].rstrip().split(" ")[-1].lstrip("—–-\"'“(")[:1].isupper() and im.start() > 0:
                continue  # "George W. Bush": the model has the whole name
            if gaz.lookup(im.group(0)) or gaz.lookup(im.group("ini").strip()):
                continue  # "U.S. Steel": a known short form, not an initial
            family = im.group(0)[len(im.group("ini")) :].strip()
            if gaz.lookup(family) or im.group("ini").replace(" ", "") in _NOT_INITIALS or len(family) < 3:
                continue  # "N. Korea", "P.M. Eastern": an abbreviated place or a time
            if re.match(r" [A-Z]|\.\S", stripped[im.end() :]):
                continue  # "J. Scott Applewhite" (the name goes on), "H.J.Res.", "W.Va.)"

            out[(base + im.start(), base + im.end())] = FORCED_PERSON
            why[(base + im.start(), base + im.end())] = "initials"
        if not teams:
            rule = "team_score"
            scores = list(_TEAM_SCORE_RE.finditer(stripped))
            for sm in scores if len(scores) >= 2 else ():  # "Chapter 1", "Aug. 10": one name, one number
                s, e = sm.span("a")
                if not any(fs < base + e and fe > base + s for fs, fe in out):
                    teams.append((s, e))
        for s, e in teams:
            text = stripped[s:e]
            if text in gaz.junk or _is_country(text, gaz):
                continue  # a national side is the country (CoNLL and common usage)
            out[(base + s, base + e)] = FORCED_ORG
            why[(base + s, base + e)] = rule
        for pm in _NAME_COUNTRY_RE.finditer(stripped) if "(" in stripped else ():
            name = pm.group("a")
            words = name.split()
            if not 2 <= len(words) <= 4 or _ORG_WORDS.intersection(words) or not _is_country(pm.group("c"), gaz):
                continue
            s, e = base + pm.start("a"), base + pm.end("a")
            if not any(fs < e and fe > s for fs, fe in out):
                out[(s, e)] = FORCED_PERSON
                why[(s, e)] = "name_country"
    rows = {body.rfind("\n", 0, s) for (s, _), rule in why.items() if rule in _ROW_RULES}
    if len(rows) < LAYOUT_MIN_ROWS:
        # Results, tables and scorecards come as a block of rows: in a text with fewer such lines
        # the patterns are prose or headlines ("Police Arrest 8 In Probe ... That Left 4 Dead",
        # "Trump at War"), and only datelines and initials stay (AllSides: 52 firings in
        # 5,364 articles before this guard, all wrong; bench/entity_rules_audit.py, issue 12).
        return {span: (label, rule) for span, (label, rule) in ((sp, (out[sp], why[sp])) for sp in out)
                if rule in ("dateline", "initials")}
    return {span: (label, why[span]) for span, label in out.items()}


def _line_start(body: str, pos: int) -> int:
    return body.rfind("\n", 0, pos) + 1


def _is_country(text: str, gaz: Gazetteer) -> bool:
    return any(
        en.alias_kind == NAME and en.entity_id.startswith("fp:country/") for en in gaz.lookup(text)
    )


# --------------------------------------------------------------------------------------------
# one reading per name per article

# A surface's labels in one article are made consistent when the winning label has at least
# this share of the votes (layout rules count FORCED_WEIGHT times); measured on CoNLL dev, where
# sports clubs named after towns are read as places in prose and as clubs in tables.
CONSISTENT_MIN_SHARE = 0.6
FORCED_WEIGHT = 3
# Repeats of a name are tagged only for names at least this long (short capitalised words such
# as "Mr", "The", "AP" are noise more often than names).
PROPAGATE_MIN_CHARS = 4
_PROPAGATED_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC"})
_PLACE = {"GPE": "PLACE", "LOC": "PLACE", "FAC": "PLACE"}
# A name's first word as the propagation pass sees it (a capitalised word not glued to a word,
# dot, apostrophe or hyphen before it), and what may not follow a whole name.
_CAP_WORD_RE = re.compile(r"(?<![\w.'’-])[A-Z][\w.'’&-]*")
_WORD_AFTER_RE = re.compile(r"[\w'’-]")


def harmonise_spans(
    body: str,
    ner: list[tuple[int, int, str]],
    forced: dict[tuple[int, int], str],
    gaz: Gazetteer,
) -> list[tuple[int, int, str]]:
    """Merge NER spans with layout spans (layout wins where they overlap), give each surface one
    label per article, and tag unlabelled repeats of names already found (whole words, same
    spelling). Returns spans sorted by start, non-overlapping among themselves."""
    spans = [(s, e, lab) for (s, e), lab in forced.items()]
    forced_starts = sorted(forced)
    for s, e, lab in ner:
        if not any(fs < e and fe > s for fs, fe in forced_starts):
            spans.append((s, e, lab))
    if not spans:
        return []

    votes: dict[str, Counter] = defaultdict(Counter)
    for s, e, lab in spans:
        w = FORCED_WEIGHT if (s, e) in forced else 1
        votes[body[s:e]][lab] += w
    best: dict[str, str] = {}
    for surface, counter in votes.items():
        if len(counter) == 1:
            best[surface] = next(iter(counter))  # one label: the vote below would pick it (most names)
            continue
        classes = Counter()
        for lab, n in counter.items():
            classes[_PLACE.get(lab, lab)] += n
        (top, n_top), total = classes.most_common(1)[0], sum(classes.values())
        if n_top >= CONSISTENT_MIN_SHARE * total:
            labs = [lab for lab in counter if _PLACE.get(lab, lab) == top]
            best[surface] = max(labs, key=lambda lab: (counter[lab], lab))
    out = [(s, e, best.get(body[s:e], lab)) for s, e, lab in spans]

    # unlabelled repeats of names found elsewhere in the article
    names = {
        surface: lab
        for surface, lab in best.items()
        if lab in _PROPAGATED_LABELS and len(surface) >= PROPAGATE_MIN_CHARS and surface not in gaz.junk
    }
    for s, e, lab in out:
        words = body[s:e].split()
        if lab == "PERSON" and len(words) > 1 and len(words[-1]) >= PROPAGATE_MIN_CHARS:
            names.setdefault(words[-1], "PERSON")
    for surface, lab in list(names.items()):
        # "Riverton" named in prose is "RIVERTON" in the headline
        names.setdefault(surface.upper(), lab)
    if names:
        # one pass over capitalised words with a dict keyed by first word: no per-article regex
        by_first: dict[str, list[str]] = defaultdict(list)
        for name in sorted(names, key=len, reverse=True):
            by_first[name.split(" ", 1)[0]].append(name)
        taken = sorted((s, e) for s, e, _ in out)
        last_end = 0
        for m in _CAP_WORD_RE.finditer(body):
            s = m.start()
            if s < last_end:
                continue
            word = m.group(0)
            for name in by_first.get(word, ()) or by_first.get(word.rstrip(".'’-"), ()):
                e = s + len(name)
                if body.startswith(name, s) and not _WORD_AFTER_RE.match(body, e):
                    if not _overlaps(taken, s, e):
                        out.append((s, e, names[name]))
                    last_end = e
                    break
    out.sort()
    return out


def _overlaps(sorted_spans: list[tuple[int, int]], s: int, e: int) -> bool:
    """Whether (s, e) overlaps one of ``sorted_spans`` (sorted, not overlapping each other)."""
    i = bisect.bisect_left(sorted_spans, (e, e))
    return i > 0 and sorted_spans[i - 1][1] > s
