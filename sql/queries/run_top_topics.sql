-- run_top_topics: the topics a run's articles carry most often with a confident score (>= 0.5,
-- see article_topics.score). Used by the run report; works for any run_id from the runs table.
with confident as (
    select article_id, topic, score from article_topics where run_id = $run_id and score >= 0.5
),
final as (
    select topic, count(distinct article_id) as articles, round(avg(score), 2) as mean_score
    from confident
    group by topic
    order by articles desc, topic
    limit $top_n
)
select * from final
