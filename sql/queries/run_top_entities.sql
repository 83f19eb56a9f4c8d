-- run_top_entities: the entities a run's articles mention most (by articles, then mentions).
-- Used by the run report; analysts can run it for any run_id from the runs table.
with run_mentions as (
    select article_id, entity_id from mentions where run_id = $run_id
),
counted as (
    select entity_id, count(distinct article_id) as articles, count(*) as mentions
    from run_mentions
    group by entity_id
),
final as (
    select coalesce(e.canonical_name, c.entity_id) as entity, e.entity_type, e.country_code,
           c.articles, c.mentions
    from counted as c
    left join entities as e using (entity_id)
    order by c.articles desc, c.mentions desc, entity
    limit $top_n
)
select * from final
