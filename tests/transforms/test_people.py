"""One person across batches and runs (`transforms.people.resolve_people`): frames in, a remap out."""

from __future__ import annotations

import polars as pl

from transforms.entities import ner_entity_id
from transforms.people import apply_remap, family_names, resolve_people


def _people(*names: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"entity_id": [ner_entity_id("PERSON", n) for n in names], "entity_type": ["PERSON"] * len(names),
         "canonical_name": list(names)}
    )


def pid(name: str) -> str:
    return ner_entity_id("PERSON", name)


NONE = frozenset()


def test_a_variant_takes_the_stored_persons_id():
    stored = _people("Anthony Quill")
    new = _people("Tony Quill", "Anthony J. Quill", "ANTHONY QUILL")
    remap = resolve_people(new, {}, stored, NONE)
    assert remap == {pid("Tony Quill"): pid("Anthony Quill"), pid("Anthony J. Quill"): pid("Anthony Quill")}
    # "ANTHONY QUILL" normalises to the stored name: the same id already, nothing to remap


def test_another_given_name_or_family_stays_apart():
    stored = _people("Anthony Quill", "Maria Lindqvist")
    new = _people("Sarah Quill", "Anthony Quillan", "Maria Lindgren")
    assert resolve_people(new, {}, stored, NONE) == {}


def test_new_variants_merge_into_the_heaviest_when_nothing_is_stored():
    new = _people("Tony Quill", "Anthony Quill", "Anthony R. Quill")
    weights = {pid("Tony Quill"): 2, pid("Anthony Quill"): 9, pid("Anthony R. Quill"): 1}
    remap = resolve_people(new, weights, _people(), NONE)
    assert remap == {pid("Tony Quill"): pid("Anthony Quill"), pid("Anthony R. Quill"): pid("Anthony Quill")}


def test_a_stored_id_is_never_re_identified():
    # two variants stored apart by an older pipeline: the one written again keeps its own id
    stored = _people("Anthony Quill", "Tony Quill")
    new = _people("Tony Quill", "Anthony J. Quill")
    remap = resolve_people(new, {}, stored, NONE)
    assert pid("Tony Quill") not in remap
    assert remap[pid("Anthony J. Quill")] == min(pid("Anthony Quill"), pid("Tony Quill"))


def test_a_family_name_alone_joins_the_one_person_of_that_name_in_the_chunk():
    new = _people("Quill", "Anthony Quill")
    assert resolve_people(new, {}, _people(), NONE) == {pid("Quill"): pid("Anthony Quill")}
    # named in full in the chunk as a stored person's variant: the stored id
    new = _people("Quill", "Tony Quill")
    assert resolve_people(new, {}, _people("Anthony Quill"), NONE) == {
        pid("Quill"): pid("Anthony Quill"), pid("Tony Quill"): pid("Anthony Quill")}


def test_a_family_name_alone_stays_apart_when_ambiguous_curated_or_only_stored():
    assert resolve_people(_people("Quill", "Anthony Quill", "Sarah Quill"), {}, _people(), NONE) == {}
    assert resolve_people(_people("Quill", "Anthony Quill"), {}, _people(), frozenset({"quill"})) == {}
    # the warehouse alone is not evidence enough: common family names belong to many people
    assert resolve_people(_people("Quill"), {}, _people("Anthony Quill"), NONE) == {}


def test_an_initial_does_not_match_a_stored_person():
    remap = resolve_people(_people("A. Quill", "A.N.S. Quill"), {}, _people("Anthony Quill"), NONE)
    assert pid("Anthony Quill") not in remap.values()  # (the two may be one person within the chunk)
    assert resolve_people(_people("Anthony Quill"), {}, _people("A. Quill"), NONE) == {}


def test_curated_and_other_types_are_left_alone():
    new = pl.DataFrame({
        "entity_id": ["fp:person/x", ner_entity_id("ORG", "Quill Group")],
        "entity_type": ["PERSON", "ORG"], "canonical_name": ["Anthony Quill", "Quill Group"],
    })
    assert resolve_people(new, {}, _people("Anthony Quill"), NONE) == {}
    assert family_names(new) == []


def test_family_names_are_what_the_flow_reads_of_the_warehouse():
    assert family_names(_people("Anthony J. Quill Jr.", "Quill", "José Ortiz")) == ["ortiz", "quill"]


def test_apply_remap_rewrites_only_the_given_columns():
    frame = pl.DataFrame({"actor_entity_id": ["a", "b"], "target_entity_id": ["b", None], "other": ["a", "b"]})
    out = apply_remap(frame, {"a": "z"}, "actor_entity_id", "target_entity_id")
    assert out["actor_entity_id"].to_list() == ["z", "b"]
    assert out["target_entity_id"].to_list() == ["b", None]
    assert out["other"].to_list() == ["a", "b"]
