-- country_pairs: two different countries mentioned in the same sentence of an article, one row per
-- article, sentence and unordered pair (country_a < country_b). A first step towards dyads:
--   select country_a, country_b, count(distinct article_id) from country_pairs group by all order by 3 desc
create or replace view country_pairs as
-- not materialized: the view is used twice below, and a materialized CTE would be computed over every
-- mention before an analyst's filter on partition_date could prune it (19 s for one month at 1M articles).
with country_mentions as not materialized (
    select distinct
        m.article_id,
        m.partition_date,
        m.sentence_index,
        e.country_code,
        e.canonical_name
    from mentions as m
    join entities as e using (entity_id)
    where e.kind = 'country' and e.country_code is not null
),

pairs as (
    select
        a.article_id,
        a.partition_date,
        a.sentence_index,
        a.country_code as country_a,
        a.canonical_name as country_a_name,
        b.country_code as country_b,
        b.canonical_name as country_b_name
    from country_mentions as a
    join country_mentions as b
        on a.article_id = b.article_id
        and a.partition_date = b.partition_date
        and a.sentence_index = b.sentence_index
        and a.country_code < b.country_code
),

final as (
    select
        p.article_id,
        coalesce(art.published_date, p.partition_date) as article_date,
        p.partition_date,
        p.sentence_index,
        p.country_a,
        p.country_a_name,
        p.country_b,
        p.country_b_name
    from pairs as p
    join articles as art on art.article_id = p.article_id and art.partition_date = p.partition_date
)

select * from final;
comment on view country_pairs is 'Two different countries mentioned in the same sentence of an article (one row per article, sentence and unordered pair).';
comment on column country_pairs.article_id is 'The article.';
comment on column country_pairs.article_date is 'Published date of the article, else the date it was first seen.';
comment on column country_pairs.partition_date is 'Partition of the article (filter on it to prune files).';
comment on column country_pairs.sentence_index is '0-based sentence of the body in which both countries are mentioned.';
comment on column country_pairs.country_a is 'ISO 3166-1 alpha-3 of the first country (alphabetically smaller code).';
comment on column country_pairs.country_a_name is 'Canonical name of the first country.';
comment on column country_pairs.country_b is 'ISO 3166-1 alpha-3 of the second country.';
comment on column country_pairs.country_b_name is 'Canonical name of the second country.';
