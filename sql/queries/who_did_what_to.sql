-- who_did_what_to: who did what to a country in the week up to a day ("who did what to China last
-- week"), from the events the articles state happened, with one evidence sentence each.
-- Parameters: $country (ISO alpha-3, e.g. 'CHN'), $until (a date; the week is the 7 days ending on it).
--   fpwatch sql -F sql/queries/who_did_what_to.sql -p country=CHN -p until=2021-12-12
with week as (
    select *
    from event_evidence
    where target_country = $country
      and article_date > cast($until as date) - interval 7 day
      and article_date <= cast($until as date)
      and not negated
      and modality in ('asserted', 'reported')
      and duplicate_of is null
),

final as (
    select
        actor_name,
        actor_country,
        event_type,
        quad,
        count(*) as events,
        count(distinct article_id) as articles,
        round(avg(intensity), 1) as mean_intensity,
        arg_max(evidence, confidence) as example_evidence
    from week
    group by all
)

select * from final order by events desc, actor_name, event_type
