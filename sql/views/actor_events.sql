-- actor_events: per entity and day, the events it took part in as actor and as target (people,
-- organisations and countries alike), with cooperation and conflict counts and mean intensity.
-- Counts only events stated as happened (not negated; asserted or reported) in original articles.
--   select * from actor_events where canonical_name = 'Antony Blinken' order by day
create or replace view actor_events as
with happened as (
    select
        coalesce(art.published_date, ev.partition_date) as day,
        ev.actor_entity_id,
        ev.target_entity_id,
        ev.quad,
        ev.intensity
    from events as ev
    join articles as art on art.article_id = ev.article_id and art.partition_date = ev.partition_date
    where not ev.negated
      and ev.modality in ('asserted', 'reported')
      and art.duplicate_of is null
),

sides as (
    select day, actor_entity_id as entity_id, 'actor' as side, quad, intensity from happened
    union all
    select day, target_entity_id as entity_id, 'target' as side, quad, intensity from happened
    where target_entity_id is not null
),

counts as (
    select
        day,
        entity_id,
        count(*) filter (where side = 'actor') as as_actor,
        count(*) filter (where side = 'target') as as_target,
        count(*) filter (where side = 'actor' and quad like '%cooperation') as cooperation_as_actor,
        count(*) filter (where side = 'actor' and quad like '%conflict') as conflict_as_actor,
        count(*) filter (where side = 'target' and quad like '%cooperation') as cooperation_as_target,
        count(*) filter (where side = 'target' and quad like '%conflict') as conflict_as_target,
        round(avg(intensity) filter (where side = 'actor'), 2) as mean_intensity_as_actor,
        round(avg(intensity) filter (where side = 'target'), 2) as mean_intensity_as_target
    from sides
    group by all
),

final as (
    select
        c.day,
        c.entity_id,
        e.canonical_name,
        e.entity_type,
        e.country_code,
        c.as_actor,
        c.as_target,
        c.cooperation_as_actor,
        c.conflict_as_actor,
        c.cooperation_as_target,
        c.conflict_as_target,
        c.mean_intensity_as_actor,
        c.mean_intensity_as_target
    from counts as c
    left join entities as e using (entity_id)
)

select * from final order by day, as_actor + as_target desc;
comment on view actor_events is 'Per entity and day: events it took part in as actor and as target, cooperation and conflict counts, mean intensity. Only events stated as happened (not negated, asserted or reported) in original articles.';
comment on column actor_events.day is 'Published date of the articles, else the date they were first seen.';
comment on column actor_events.entity_id is 'The entity (entities.entity_id).';
comment on column actor_events.canonical_name is 'Canonical name of the entity.';
comment on column actor_events.entity_type is 'PERSON, ORG, GPE, NORP, ...';
comment on column actor_events.country_code is 'ISO alpha-3 of the entity or of the country it is tied to.';
comment on column actor_events.as_actor is 'Events that day in which the entity acted.';
comment on column actor_events.as_target is 'Events that day done to the entity.';
comment on column actor_events.cooperation_as_actor is 'Of as_actor, events in a cooperation quad.';
comment on column actor_events.conflict_as_actor is 'Of as_actor, events in a conflict quad.';
comment on column actor_events.cooperation_as_target is 'Of as_target, events in a cooperation quad.';
comment on column actor_events.conflict_as_target is 'Of as_target, events in a conflict quad.';
comment on column actor_events.mean_intensity_as_actor is 'Mean intensity (-10..+10) of the events it acted in; NULL when none.';
comment on column actor_events.mean_intensity_as_target is 'Mean intensity of the events done to it; NULL when none.';
