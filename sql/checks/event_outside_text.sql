-- event_outside_text: events whose trigger offsets fall outside their article's body, or whose
-- text at those offsets is not the trigger as written, or whose article is missing (an event is
-- committed with its article, never alone). substr is 1-based, offsets 0-based.
with joined as (
    select e.event_id, e.article_id, e.trigger, e.trigger_start, e.trigger_end, a.body
    from events as e
    left join articles as a using (article_id)
),
final as (
    select event_id, article_id, trigger, trigger_start, trigger_end,
           case
               when body is null then 'article missing'
               when trigger_start < 0 or trigger_end > length(body) or trigger_end <= trigger_start then 'offsets out of range'
               else 'text differs: ' || substr(body, trigger_start + 1, trigger_end - trigger_start)
           end as problem
    from joined
    where body is null
       or trigger_start < 0
       or trigger_end > length(body)
       or trigger_end <= trigger_start
       or substr(body, trigger_start + 1, trigger_end - trigger_start) <> trigger
)
select * from final
