-- 002_fetch: what the fetcher has seen (fetch_state) and the raw bytes it fetched (raw_pages), as
-- warehouse tables (they were private Parquet folders before the warehouse moved to DuckLake).

create table fetch_state (
    url              varchar not null,
    kind             varchar not null,
    status           varchar not null,
    reason           varchar,
    detail           varchar,
    http_status      integer,
    etag             varchar,
    last_modified    varchar,
    final_url        varchar,
    raw_sha256       varchar,
    source_name      varchar,
    discovered_from  varchar,
    tries            integer,
    updated_at       timestamp with time zone,
    seq              bigint,
    run_id           varchar
);
comment on table fetch_state is 'What the fetcher knows of every URL (page, feed, sitemap): one row per event, the latest (updated_at, seq) wins; fpwatch compact keeps only the latest.';
comment on column fetch_state.url is 'Canonical URL of the page, feed or sitemap.';
comment on column fetch_state.kind is 'page, feed or sitemap.';
comment on column fetch_state.status is 'queued (discovered, not fetched yet), fetched, not_modified (conditional request answered 304) or rejected.';
comment on column fetch_state.reason is 'Reject reason when status = rejected (http_404, timeout, robots_disallowed, ...).';
comment on column fetch_state.detail is 'Human-readable detail of the event.';
comment on column fetch_state.http_status is 'HTTP status of the last response.';
comment on column fetch_state.etag is 'ETag of the last response (sent back as If-None-Match).';
comment on column fetch_state.last_modified is 'Last-Modified of the last response (sent back as If-Modified-Since).';
comment on column fetch_state.final_url is 'Canonical URL after redirects: the article source.';
comment on column fetch_state.raw_sha256 is 'sha256 of the raw bytes fetched.';
comment on column fetch_state.source_name is 'Outlet name from the sources file; NULL for ad-hoc feeds and URLs.';
comment on column fetch_state.discovered_from is 'Feed, sitemap or URL list the URL was found in.';
comment on column fetch_state.tries is 'Runs in which the URL failed transiently (timeouts, 429, 5xx); given up after 3.';
comment on column fetch_state.updated_at is 'When the event happened (UTC).';
comment on column fetch_state.seq is 'Tie-breaker between events of one timestamp.';
comment on column fetch_state.run_id is 'Run that recorded the event (see runs).';

create table raw_pages (
    url              varchar not null,
    final_url        varchar,
    http_status      integer,
    content_type     varchar,
    etag             varchar,
    last_modified    varchar,
    body             blob,
    raw_sha256       varchar,
    fetched_at       timestamp with time zone,
    run_id           varchar,
    partition_date   date not null
);
comment on table raw_pages is 'Raw bytes of every fetched page, partitioned by fetch day, so a killed fetch resumes and a backfill can reprocess without the network.';
comment on column raw_pages.url is 'Canonical URL requested.';
comment on column raw_pages.final_url is 'Canonical URL after redirects.';
comment on column raw_pages.http_status is 'HTTP status of the response.';
comment on column raw_pages.content_type is 'Content-Type header of the response.';
comment on column raw_pages.etag is 'ETag header of the response.';
comment on column raw_pages.last_modified is 'Last-Modified header of the response.';
comment on column raw_pages.body is 'Response body as received (bytes, size-capped by FPWATCH_MAX_BYTES).';
comment on column raw_pages.raw_sha256 is 'sha256 of body.';
comment on column raw_pages.fetched_at is 'When the page was fetched (UTC).';
comment on column raw_pages.run_id is 'Run that fetched it (see runs).';
comment on column raw_pages.partition_date is 'Day the page was fetched (UTC): the partition key.';
