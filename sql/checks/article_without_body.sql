-- article_without_body: articles in the run's partitions whose body is missing or blank.
-- An article without text cannot carry mentions or topics; extraction must reject it instead.
with final as (
    select article_id, source, partition_date, length(body) as body_chars
    from articles
    where body is null or trim(body) = ''
)
select * from final
