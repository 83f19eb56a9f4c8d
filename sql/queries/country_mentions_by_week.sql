-- country_mentions_by_week: articles mentioning a country, per ISO week ("mentions of North Korea by week").
-- Parameter: $country_code (ISO 3166-1 alpha-3, e.g. 'PRK'). Duplicates are counted once.
with country_articles as (
    select distinct
        a.article_id,
        coalesce(a.published_date, a.partition_date) as day
    from mentions as m
    join entities as e using (entity_id)
    join articles as a using (article_id)
    where e.kind = 'country'
        and e.country_code = $country_code
        and a.duplicate_of is null
),

final as (
    select
        cast(date_trunc('week', day) as date) as week,
        count(*) as articles
    from country_articles
    group by week
)

select * from final order by week
