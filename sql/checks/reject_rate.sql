-- reject_rate: the run rejected more than $max_reject_rate of its inputs (rejects / (rejects +
-- articles written)). Only judged from $min_inputs inputs up: below that a few bad files are noise.
with run_rejects as (
    select count(*) as rejects from rejects where run_id = $run_id
),
run_articles as (
    select count(*) as articles from articles where run_id = $run_id
),
rate as (
    select rejects, articles, rejects + articles as inputs,
           rejects / nullif(rejects + articles, 0) as reject_rate
    from run_rejects, run_articles
),
final as (
    select * from rate
    where inputs >= $min_inputs and reject_rate > $max_reject_rate
)
select * from final
