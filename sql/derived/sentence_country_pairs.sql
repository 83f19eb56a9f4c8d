-- Rows of sentence_country_pairs for the articles in _derive_ids (article_id); {partitions} becomes a
-- filter on m.partition_date (a literal list of the days written, so files are pruned) or `true`. Run inside the transaction that wrote their
-- mentions, entities and articles, so the pairs commit with them; also when the table is created
-- on a warehouse that already holds articles, and after `fpwatch migrate`.
insert into sentence_country_pairs by name
with country_mentions as (
    select distinct
        m.article_id,
        m.partition_date,
        m.sentence_index,
        e.country_code,
        e.canonical_name
    from mentions as m
    join entities as e using (entity_id)
    where e.kind = 'country' and e.country_code is not null and m.sentence_index is not null
      and {partitions}
      and m.article_id in (select article_id from _derive_ids)
)

select
    a.article_id,
    a.partition_date,
    coalesce(art.published_date, a.partition_date) as article_date,
    a.sentence_index,
    a.country_code as country_a,
    a.canonical_name as country_a_name,
    b.country_code as country_b,
    b.canonical_name as country_b_name,
    art.run_id,
    art.pipeline_version
from country_mentions as a
join country_mentions as b
    on a.article_id = b.article_id
    and a.partition_date = b.partition_date
    and a.sentence_index = b.sentence_index
    and a.country_code < b.country_code
join articles as art on art.article_id = a.article_id and art.partition_date = a.partition_date
