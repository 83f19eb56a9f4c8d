-- stories_by_size: cross-source stories, largest first, with the outlets that carried them.
create or replace view stories_by_size as
with members as (
    select
        story_id,
        count(*) as articles,
        count(*) filter (where duplicate_of is null) as original_articles,
        list(distinct publisher order by publisher) filter (where publisher is not null) as outlets,
        list(distinct wire order by wire) filter (where wire is not null) as wires
    from articles
    where story_id is not null
    group by story_id
),

final as (
    select
        s.story_id,
        s.title,
        s.first_published,
        s.last_published,
        m.articles,
        m.original_articles,
        s.publisher_count,
        coalesce(m.outlets, []) as outlets,
        coalesce(m.wires, []) as wires
    from stories as s
    join members as m using (story_id)
)

select * from final order by articles desc, first_published desc;
comment on view stories_by_size is 'Stories ordered by size, with the outlets and wire services that carried them.';
comment on column stories_by_size.story_id is 'Story id (articles.story_id).';
comment on column stories_by_size.title is 'Representative headline.';
comment on column stories_by_size.first_published is 'Earliest article date.';
comment on column stories_by_size.last_published is 'Latest article date.';
comment on column stories_by_size.articles is 'Articles in the story, duplicates included.';
comment on column stories_by_size.original_articles is 'Articles that are not duplicates of another.';
comment on column stories_by_size.publisher_count is 'Distinct known publishers.';
comment on column stories_by_size.outlets is 'Distinct known publishers, alphabetically.';
comment on column stories_by_size.wires is 'Wire services credited in its articles.';
