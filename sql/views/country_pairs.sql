-- country_pairs: two different countries mentioned in the same sentence of an article, one row per
-- article, sentence and unordered pair (country_a < country_b). A first step towards dyads:
--   select country_a, country_b, count(distinct article_id) from country_pairs group by all order by 3 desc
-- The pairs are derived when an article's mentions commit (table sentence_country_pairs), so a filter on
-- partition_date reads only that range's pairs (the top pairs of a month: 654 ms as a self-join of
-- mentions at 1M articles, see bench/warehouse.py for the figure now).
create or replace view country_pairs as
select
    article_id,
    article_date,
    partition_date,
    sentence_index,
    country_a,
    country_a_name,
    country_b,
    country_b_name
from sentence_country_pairs;
comment on view country_pairs is 'Two different countries mentioned in the same sentence of an article (one row per article, sentence and unordered pair).';
comment on column country_pairs.article_id is 'The article.';
comment on column country_pairs.article_date is 'Published date of the article, else the date it was first seen.';
comment on column country_pairs.partition_date is 'Partition of the article (filter on it to prune files).';
comment on column country_pairs.sentence_index is '0-based sentence of the body in which both countries are mentioned.';
comment on column country_pairs.country_a is 'ISO 3166-1 alpha-3 of the first country (alphabetically smaller code).';
comment on column country_pairs.country_a_name is 'Canonical name of the first country.';
comment on column country_pairs.country_b is 'ISO 3166-1 alpha-3 of the second country.';
comment on column country_pairs.country_b_name is 'Canonical name of the second country.';
