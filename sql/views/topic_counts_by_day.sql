-- topic_counts_by_day: how many articles carry each topic per day (confident assignments only,
-- score >= 0.5), and their share of that day's articles. Duplicates are counted once (originals only).
create or replace view topic_counts_by_day as
with originals as (
    select article_id, coalesce(published_date, partition_date) as day
    from articles
    where duplicate_of is null
),

day_totals as (
    select day, count(*) as day_articles
    from originals
    group by day
),

counts as (
    select
        o.day,
        t.topic,
        count(distinct t.article_id) as articles,
        avg(t.score) as mean_score
    from article_topics as t
    join originals as o using (article_id)
    where t.score >= 0.5
    group by o.day, t.topic
),

final as (
    select
        c.day,
        c.topic,
        tp.label,
        c.articles,
        d.day_articles,
        round(c.articles / d.day_articles, 4) as share,
        round(c.mean_score, 3) as mean_score
    from counts as c
    join day_totals as d using (day)
    left join topics as tp using (topic)
)

select * from final order by day, articles desc;
comment on view topic_counts_by_day is 'Articles per topic per day (score >= 0.5, duplicates excluded) and their share of the day.';
comment on column topic_counts_by_day.day is 'Published date, else first-seen date.';
comment on column topic_counts_by_day.topic is 'Topic key (see topics).';
comment on column topic_counts_by_day.label is 'Topic label.';
comment on column topic_counts_by_day.articles is 'Original (non-duplicate) articles that day with the topic at score >= 0.5.';
comment on column topic_counts_by_day.day_articles is 'Original articles that day.';
comment on column topic_counts_by_day.share is 'articles / day_articles (0..1).';
comment on column topic_counts_by_day.mean_score is 'Mean topic score of those articles.';
