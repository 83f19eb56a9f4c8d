-- article_doubled: articles of the run's partitions stored more than once in the whole lake,
-- in two partitions or twice in one (a partition written twice, or an article that moved day
-- without leaving its old partition). Every article_id must appear exactly once.
with scope as (
    select distinct article_id from articles
),
copies as (
    select article_id, count(*) as copies, list(distinct partition_date order by partition_date) as partitions
    from all_articles
    where article_id in (select article_id from scope)
    group by article_id
),
final as (
    select * from copies where copies > 1
)
select * from final
