-- dyads_by_day: directed country pairs per day (actor country -> target country), the way GDELT and
-- ICEWS dyads are read: events per quad and per PLOVER type, mean intensity and tone. Counts only
-- events the articles state happened (not negated; asserted or reported, not future or
-- hypothetical) in original articles (duplicates are counted once, through their original).
--   select * from dyads_by_day where actor_country = 'USA' and target_country = 'CHN' order by day
create or replace view dyads_by_day as
with happened as (
    select
        coalesce(art.published_date, ev.partition_date) as day,
        ev.article_id,
        ev.actor_country,
        ev.target_country,
        ev.event_type,
        ev.quad,
        ev.intensity,
        ev.tone
    from events as ev
    join articles as art on art.article_id = ev.article_id and art.partition_date = ev.partition_date
    where not ev.negated
      and ev.modality in ('asserted', 'reported')
      and art.duplicate_of is null
      and ev.actor_country is not null
      and ev.target_country is not null
),

types as (
    select day, actor_country, target_country, event_type, count(*) as n
    from happened
    group by all
),

type_maps as (
    select day, actor_country, target_country, map_from_entries(list((event_type, n) order by event_type)) as type_counts
    from types
    group by all
),

counts as (
    select
        day,
        actor_country,
        target_country,
        count(*) as events,
        count(distinct article_id) as articles,
        count(*) filter (where quad = 'verbal_cooperation') as verbal_cooperation,
        count(*) filter (where quad = 'material_cooperation') as material_cooperation,
        count(*) filter (where quad = 'verbal_conflict') as verbal_conflict,
        count(*) filter (where quad = 'material_conflict') as material_conflict,
        round(avg(intensity), 2) as mean_intensity,
        round(avg(tone), 3) as mean_tone
    from happened
    group by all
),

final as (
    select c.*, t.type_counts
    from counts as c
    join type_maps as t using (day, actor_country, target_country)
)

select * from final order by day, events desc;
comment on view dyads_by_day is 'Directed country pairs per day (actor country -> target country): events per quad and type, mean intensity and tone. Only events stated as happened (not negated, asserted or reported) in original articles.';
comment on column dyads_by_day.day is 'Published date of the articles, else the date they were first seen.';
comment on column dyads_by_day.actor_country is 'ISO alpha-3 of the actors (countries, and people and organisations tied to them).';
comment on column dyads_by_day.target_country is 'ISO alpha-3 of the targets (may equal actor_country: a domestic event).';
comment on column dyads_by_day.events is 'Events that day from actor_country to target_country.';
comment on column dyads_by_day.articles is 'Distinct original articles those events come from.';
comment on column dyads_by_day.verbal_cooperation is 'Events of quad verbal_cooperation (AGREE, CONSULT, SUPPORT, CONCEDE).';
comment on column dyads_by_day.material_cooperation is 'Events of quad material_cooperation (COOPERATE, AID, RETREAT).';
comment on column dyads_by_day.verbal_conflict is 'Events of quad verbal_conflict (DEMAND, ACCUSE, REJECT, THREATEN).';
comment on column dyads_by_day.material_conflict is 'Events of quad material_conflict (PROTEST, SANCTION, MOBILIZE, COERCE, ASSAULT).';
comment on column dyads_by_day.mean_intensity is 'Mean Goldstein-style intensity of the events, -10 (conflict) .. +10 (cooperation).';
comment on column dyads_by_day.mean_tone is 'Mean tone of the evidence sentences (% positive - % negative words).';
comment on column dyads_by_day.type_counts is 'Events per PLOVER type, a map: type_counts[''CONSULT''].';
