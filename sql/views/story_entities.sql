-- story_entities: which entities a story's articles mention, and how widely (who and where the story is about).
--   select * from story_entities where story_id = '...' order by articles desc
create or replace view story_entities as
with story_mentions as (
    select
        a.story_id,
        m.entity_id,
        m.article_id
    from mentions as m
    join articles as a using (article_id)
    where a.story_id is not null
),

counts as (
    select
        story_id,
        entity_id,
        count(distinct article_id) as articles,
        count(*) as mentions
    from story_mentions
    group by story_id, entity_id
),

final as (
    select
        c.story_id,
        c.entity_id,
        e.canonical_name,
        e.entity_type,
        e.country_code,
        c.articles,
        c.mentions
    from counts as c
    join entities as e using (entity_id)
)

select * from final order by story_id, articles desc, mentions desc;
comment on view story_entities is 'Entities co-mentioned within a story: per story and entity, how many of its articles mention it.';
comment on column story_entities.story_id is 'Story id.';
comment on column story_entities.entity_id is 'Entity id.';
comment on column story_entities.canonical_name is 'Canonical entity name.';
comment on column story_entities.entity_type is 'PERSON, ORG, GPE, ...';
comment on column story_entities.country_code is 'ISO alpha-3 the entity is tied to.';
comment on column story_entities.articles is 'Articles of the story that mention the entity.';
comment on column story_entities.mentions is 'Mentions of the entity across the story.';
