-- conflict_trend: conflict and cooperation between two countries by week, in both directions,
-- from dyads_by_day. Parameters: $a and $b (ISO alpha-3, e.g. 'USA' and 'CHN').
--   fpwatch sql -F sql/queries/conflict_trend.sql -p a=USA -p b=CHN
with pair as (
    select *
    from dyads_by_day
    where (actor_country = $a and target_country = $b)
       or (actor_country = $b and target_country = $a)
),

final as (
    select
        cast(date_trunc('week', day) as date) as week,
        actor_country || ' -> ' || target_country as direction,
        sum(events) as events,
        sum(verbal_conflict + material_conflict) as conflict,
        sum(verbal_cooperation + material_cooperation) as cooperation,
        round(sum(verbal_conflict + material_conflict) / sum(events), 3) as conflict_share,
        round(sum(mean_intensity * events) / sum(events), 2) as mean_intensity
    from pair
    group by all
)

select * from final order by week, direction
