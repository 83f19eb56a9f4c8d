-- row_in_wrong_partition: rows of the run's partitions whose partition_date differs from the
-- partition_date=YYYY-MM-DD folder they are stored in (pruning by folder would then miss them).
with located as (
    select 'articles' as table_name, article_id, partition_date, filename from articles
    union all
    select 'mentions', article_id, partition_date, filename from mentions
    union all
    select 'article_topics', article_id, partition_date, filename from article_topics
    union all
    select 'raw_inputs', article_id, partition_date, filename from raw_inputs
),
final as (
    select table_name, article_id, partition_date, filename
    from located
    where filename not like '%partition_date=' || strftime(partition_date, '%Y-%m-%d') || '/%'
)
select * from final
