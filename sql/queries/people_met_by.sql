-- people_met_by: people mentioned in the same sentence as a given person, with the roles the
-- articles give them ("which ministers did Blinken meet"). Parameter: $person (canonical name,
-- e.g. 'Antony Blinken'). A first cut at meetings: co-mention in one sentence, not a parsed event.
with target as (
    select m.article_id, m.sentence_index
    from mentions as m
    join entities as e using (entity_id)
    where e.canonical_name = $person
),

others as (
    select
        e.canonical_name as person,
        e.country_code,
        m.role,
        m.article_id
    from mentions as m
    join target as t on m.article_id = t.article_id and m.sentence_index = t.sentence_index
    join entities as e using (entity_id)
    where e.entity_type = 'PERSON' and e.canonical_name <> $person
),

final as (
    select
        person,
        country_code,
        string_agg(distinct role, '; ') filter (where role is not null) as roles,
        count(distinct article_id) as articles
    from others
    group by person, country_code
)

select * from final order by articles desc, person
