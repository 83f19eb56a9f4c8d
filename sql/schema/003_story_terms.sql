-- 003: the evidence terms story linking compares, stored with each article's signatures, so that
-- linking new articles reads the terms of the stored window instead of re-tokenising its bodies
-- (100 new articles spread over three years against 1M stored ones: the bodies of ~500k stored
-- articles were tokenised again on every run). Rows written before this migration have NULL here;
-- linking then reads their text as before.
alter table article_signatures add column story_terms varchar[];
alter table article_signatures add column story_weights float[];
comment on column article_signatures.story_terms is 'Evidence terms of the article for story linking (content words, names, numbers, ent:<entity_id>), sorted; NULL for rows written before pipeline 0.2.0 stored them.';
comment on column article_signatures.story_weights is 'Weight of each of story_terms before IDF (title words, names and numbers boosted), same order.';
