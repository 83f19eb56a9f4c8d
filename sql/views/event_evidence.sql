-- event_evidence: every event with the article it comes from (title, publisher, date), the names of
-- actor and target, and the sentence that is its evidence: what an analyst reads to check an event.
--   select * from event_evidence where actor_country = 'USA' and target_country = 'CHN' order by article_date desc
create or replace view event_evidence as
with final as (
    select
        ev.event_id,
        ev.article_id,
        coalesce(art.published_date, ev.partition_date) as article_date,
        ev.partition_date,
        art.title,
        art.publisher,
        coalesce(art.url, art.source) as source,
        ev.event_type,
        ev.quad,
        ev.intensity,
        ev.actor_entity_id,
        actor.canonical_name as actor_name,
        ev.actor_country,
        ev.target_entity_id,
        target.canonical_name as target_name,
        ev.target_country,
        ev.trigger,
        ev.negated,
        ev.modality,
        ev.confidence,
        ev.tone,
        ev.evidence,
        art.duplicate_of
    from events as ev
    join articles as art on art.article_id = ev.article_id and art.partition_date = ev.partition_date
    left join entities as actor on actor.entity_id = ev.actor_entity_id
    left join entities as target on target.entity_id = ev.target_entity_id
)

select * from final;
comment on view event_evidence is 'One row per event with its article (title, publisher, source, date), actor and target names, and the evidence sentence.';
comment on column event_evidence.event_id is 'The event (events.event_id).';
comment on column event_evidence.article_id is 'The article the event was coded from.';
comment on column event_evidence.article_date is 'Published date of the article, else the date it was first seen.';
comment on column event_evidence.partition_date is 'Partition of the article (filter on it to prune files).';
comment on column event_evidence.title is 'Headline of the article.';
comment on column event_evidence.publisher is 'Publishing outlet; NULL when unknown.';
comment on column event_evidence.source is 'Page URL, else the input file path.';
comment on column event_evidence.event_type is 'PLOVER event type (AGREE, CONSULT, ..., ASSAULT).';
comment on column event_evidence.quad is 'verbal_cooperation, material_cooperation, verbal_conflict or material_conflict.';
comment on column event_evidence.intensity is 'Goldstein-style score of the type, -10..+10 (see events.intensity).';
comment on column event_evidence.actor_entity_id is 'Who acted (entities.entity_id).';
comment on column event_evidence.actor_name is 'Canonical name of the actor.';
comment on column event_evidence.actor_country is 'ISO alpha-3 of the actor (its own, or its person''s or organisation''s country).';
comment on column event_evidence.target_entity_id is 'Who it was done to (entities.entity_id).';
comment on column event_evidence.target_name is 'Canonical name of the target.';
comment on column event_evidence.target_country is 'ISO alpha-3 of the target.';
comment on column event_evidence.trigger is 'The word(s) that triggered the event.';
comment on column event_evidence.negated is 'True when the sentence says it did not happen.';
comment on column event_evidence.modality is 'asserted, reported, future or hypothetical.';
comment on column event_evidence.confidence is 'Heuristic 0..1 of how directly the parse ties actor and target to the trigger.';
comment on column event_evidence.tone is 'Tone of the sentence (% positive - % negative words, VADER lexicon).';
comment on column event_evidence.evidence is 'The sentence, verbatim from the article body.';
comment on column event_evidence.duplicate_of is 'article_id the article copies, NULL for originals (filter duplicate_of is null to count each report once).';
