-- article_without_raw_input: articles of the run's partitions with no raw input in the same
-- partition. Reprocessing re-reads raw_inputs, so an article without one could never be rebuilt.
with final as (
    select a.article_id, a.source, a.partition_date
    from articles as a
    anti join raw_inputs as r
        on r.article_id = a.article_id and r.partition_date = a.partition_date
)
select * from final
