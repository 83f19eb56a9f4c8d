-- mention_outside_text: mentions whose offsets fall outside their article's body, or whose
-- text at those offsets is not the surface as written (substr is 1-based, offsets 0-based).
-- A mention lives in its article's partition, so the article is looked up in the same partitions.
with joined as (
    select m.article_id, m.entity_id, m.surface, m.start_char, m.end_char, a.body
    from mentions as m
    left join articles as a using (article_id)
),
final as (
    select article_id, entity_id, surface, start_char, end_char,
           case
               when body is null then 'article missing'
               when start_char < 0 or end_char > length(body) or end_char <= start_char then 'offsets out of range'
               else 'text differs: ' || substr(body, start_char + 1, end_char - start_char)
           end as problem
    from joined
    where body is null
       or start_char < 0
       or end_char > length(body)
       or end_char <= start_char
       or substr(body, start_char + 1, end_char - start_char) <> surface
)
select * from final
