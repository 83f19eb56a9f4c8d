"""One person across batches and runs: people found by NER only, resolved against each other and the warehouse.

`extract_entities` merges name variants of one person within one transform batch
(`_EntityRegistry.merge_person_variants`). A chunk holds several batches, and the warehouse holds the
people of every earlier run, so the flows call `resolve_people` once per chunk, before linking and
committing, with the chunk's new PERSON entities and the stored PERSON entities that share a family
name with them (`family_names` says which to read). Pure: frames in, a remap out.

Rules (the same as within a batch, `transforms.entities.same_person_name`):
- A stored person is never re-identified: an id already in the warehouse stays itself. A new
  person whose full name is a variant of a stored person's name ("Tony Smith" for a stored "Anthony
  Smith"; "Anthony J. Smith") takes that person's id; when several stored people match (variants
  stored apart by an older pipeline), the smallest id, so the choice is deterministic.
- New people of the chunk that match no stored person merge with each other, heaviest first (the
  number of mentions), as within a batch.
- Against the warehouse, which spans many runs and outlets, the evidence asked for is stronger than
  within a chunk: a given name written as an initial ("A. Smith", "A.N.S. Smith") does not match a
  stored person, and a family name written alone ("Smith", in an article that never gives the first
  name) joins only the one person of that family name named in full in the chunk; with two or more
  such people, or when a curated person bears that family name, it stays apart. Checked by hand on
  AllSides (`bench/people_resolution.py`): warehouse joins of a family name alone were wrong for
  common names ("Barr" joined a reporter named Barr), so they are not made.
"""

from __future__ import annotations

import functools
from collections import defaultdict

import polars as pl

from transforms.entities import _core_tokens, _norm_name, same_person_name
from transforms.gazetteer import _read_csv

NER_PERSON = "ner:person:"


def _tokens(name: str) -> list[str]:
    return _norm_name(name).split()


def _initial_given(tokens: list[str]) -> bool:
    """The given name is written as an initial only ("a smith", "a n s smith")."""
    return len(_core_tokens(tokens)[0]) == 1


def family_names(entities: pl.DataFrame) -> list[str]:
    """The family names of the NER-only people in `entities`: what to read of the stored people."""
    names = _people(entities)
    return sorted({_core_tokens(t)[-1] for t in names.values() if _core_tokens(t)})


@functools.lru_cache(maxsize=1)
def curated_families() -> frozenset[str]:
    """Family names of the curated people (package data, read once per process)."""
    return frozenset(_tokens(row["canonical_name"])[-1] for row in _read_csv("people.csv") if row["canonical_name"])


def _people(entities: pl.DataFrame) -> dict[str, list[str]]:
    if entities.is_empty():
        return {}
    rows = entities.filter(
        (pl.col("entity_type") == "PERSON") & pl.col("entity_id").str.starts_with(NER_PERSON)
    ).select("entity_id", "canonical_name")
    return {eid: _tokens(name) for eid, name in rows.iter_rows() if name and _tokens(name)}


def resolve_people(
    new: pl.DataFrame, weights: dict[str, int], stored: pl.DataFrame, curated: frozenset[str] | None = None
) -> dict[str, str]:
    """Return {new entity id: the id it is}, for the chunk's NER-only people.

    new: the chunk's entities (entity_id, entity_type, canonical_name); weights: mentions per new id;
    stored: PERSON entities already in the warehouse (entity_id, entity_type, canonical_name), at
    least those sharing a family name with a new one; curated: family names of curated people (a
    family name alone is never resolved to a namesake found by NER; default: `curated_families()`).
    """
    curated = curated_families() if curated is None else curated
    mine = _people(new)
    theirs = _people(stored)
    remap: dict[str, str] = {}

    stored_by_family: dict[str, list[str]] = defaultdict(list)
    for eid, tokens in sorted(theirs.items()):
        core = _core_tokens(tokens)
        if len(core) >= 2:
            stored_by_family[core[-1]].append(eid)

    # 1. full names: a stored variant first, else a heavier new variant
    new_by_family: dict[str, list[list[str]]] = defaultdict(list)
    named_in_chunk: dict[str, set[str]] = defaultdict(set)  # family -> the people it names, as resolved
    full = [eid for eid, t in mine.items() if len(_core_tokens(t)) >= 2]
    for eid in sorted(full, key=lambda x: (-weights.get(x, 0), x)):
        tokens = mine[eid]
        family = _core_tokens(tokens)[-1]
        if eid in theirs:  # stored already: it is itself (and a home for the variants below)
            named_in_chunk[family].add(eid)
            continue
        matches = [
            s for s in stored_by_family.get(family, ())
            if same_person_name(tokens, theirs[s]) and not _initial_given(tokens) and not _initial_given(theirs[s])
        ]
        if matches:
            remap[eid] = matches[0]
            named_in_chunk[family].add(matches[0])
            continue
        groups = new_by_family[family]
        home = next((g for g in groups if same_person_name(tokens, mine[g[0]])), None)
        if home is None:
            groups.append([eid])
        else:
            home.append(eid)
            remap[eid] = home[0]
        named_in_chunk[family].add(remap.get(eid, eid))

    # 2. a family name alone: the one person of that family name named in full in the chunk
    for eid, tokens in mine.items():
        if len(tokens) != 1 or tokens[0] in curated:
            continue
        people = named_in_chunk.get(tokens[0], set())
        if len(people) == 1:
            remap[eid] = next(iter(people))
    return {old: new_id for old, new_id in remap.items() if old != new_id}


def apply_remap(frame: pl.DataFrame, remap: dict[str, str], *columns: str) -> pl.DataFrame:
    """Rewrite entity ids in `columns` of `frame` (mentions' entity_id, events' actor/target)."""
    if not remap or frame.is_empty():
        return frame
    old, new = list(remap), list(remap.values())
    return frame.with_columns(
        pl.col(c).replace(old, new) for c in columns if c in frame.columns
    )
