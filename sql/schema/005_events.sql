-- 005_events: who did what to whom (transforms/events.py), and the tone of every article (transforms/tone.py).
-- events is partitioned like mentions and written in the same commit as the article's mentions:
-- a reader never sees an article without its events. Migrations are never edited after release.

create table events (
    event_id          varchar not null,
    article_id        varchar not null,
    partition_date    date not null,
    sentence_index    integer not null,
    event_type        varchar not null,
    quad              varchar not null,
    intensity         double not null,
    actor_entity_id   varchar not null,
    actor_country     varchar,
    actor_start       integer,
    actor_end         integer,
    target_entity_id  varchar,
    target_country    varchar,
    target_start      integer,
    target_end        integer,
    trigger           varchar not null,
    trigger_start     integer not null,
    trigger_end       integer not null,
    negated           boolean not null,
    modality          varchar not null,
    evidence          varchar not null,
    sentence_start    integer,
    tone              double,
    confidence        double not null,
    run_id            varchar,
    pipeline_version  varchar
);
comment on table events is 'One event in one sentence: an actor did something (a PLOVER event type) to a target, both entities of mentions, with the trigger word and the sentence as evidence. Partitioned like articles. Filter negated = false and modality in (''asserted'', ''reported'') for events the article states happened.';
comment on column events.event_id is 'Stable id: hash of article, sentence, trigger offset, type, actor and target. Re-running gives the same id.';
comment on column events.article_id is 'The article (articles.article_id).';
comment on column events.partition_date is 'Partition of the article.';
comment on column events.sentence_index is '0-based sentence of the body, as in mentions.sentence_index.';
comment on column events.event_type is 'PLOVER event type: AGREE, CONSULT, SUPPORT, CONCEDE, COOPERATE, AID, RETREAT, DEMAND, ACCUSE, REJECT, THREATEN, PROTEST, SANCTION, MOBILIZE, COERCE, ASSAULT (transforms/data/events.toml).';
comment on column events.quad is 'verbal_cooperation, material_cooperation, verbal_conflict or material_conflict (PLOVER quad categories; SANCTION is material_conflict as in GDELT''s QuadClass).';
comment on column events.intensity is 'Cooperation-conflict score of the type, -10 (most conflictual) to +10: the Goldstein scale value of the CAMEO root PLOVER maps the type to (GDELT CAMEO.goldsteinscale.txt), e.g. CONSULT +1.0, AGREE +4.0, ACCUSE -2.0, ASSAULT -9.0.';
comment on column events.actor_entity_id is 'Who acted: an entity of entities (person, organisation, ministry, country or group) mentioned in the sentence.';
comment on column events.actor_country is 'ISO 3166-1 alpha-3 of the actor: the country itself, or the country of a person or organisation (gazetteer or stated role); NULL when unknown.';
comment on column events.actor_start is '0-based offset in articles.body of the actor''s mention in this sentence.';
comment on column events.actor_end is 'Offset one past the end of the actor''s mention.';
comment on column events.target_entity_id is 'Who it was done to (entities.entity_id). For "A and B met" each is the other''s target.';
comment on column events.target_country is 'ISO 3166-1 alpha-3 of the target (as actor_country); NULL when unknown.';
comment on column events.target_start is '0-based offset in articles.body of the target''s mention.';
comment on column events.target_end is 'Offset one past the end of the target''s mention.';
comment on column events.trigger is 'The word(s) that triggered the event, as written (met, agreed, opposition, held talks).';
comment on column events.trigger_start is '0-based offset of the trigger in articles.body: substr(body, trigger_start + 1, trigger_end - trigger_start) = trigger.';
comment on column events.trigger_end is 'Offset one past the end of the trigger in articles.body.';
comment on column events.negated is 'True when the sentence says it did not happen (did not discuss, never met, refused to meet).';
comment on column events.modality is 'asserted (stated by the article), reported (attributed: ..., the ministry said / according to / a quote), future (will meet, plans to), hypothetical (could, might, if).';
comment on column events.evidence is 'The sentence the event was coded from, verbatim from the body.';
comment on column events.sentence_start is '0-based offset of the evidence sentence in articles.body.';
comment on column events.tone is 'Tone of the evidence sentence, GDELT-like: % positive words - % negative words (VADER lexicon); comparable within fpwatch, not to GDELT levels.';
comment on column events.confidence is 'Heuristic 0..1: how directly the parse ties actor and target to the trigger (head words, explicit target, short sentence); not a calibrated probability.';
comment on column events.run_id is 'Run that wrote this row.';
comment on column events.pipeline_version is 'Pipeline version of that run.';

alter table articles add column tone double;
alter table articles add column tone_positive double;
alter table articles add column tone_negative double;
alter table articles add column tone_polarity double;
comment on column articles.tone is 'GDELT-like tone of the body: tone_positive - tone_negative (-100..100; news sits near -5..+5). Words from the VADER lexicon (vaderSentiment); comparable within fpwatch, not to GDELT''s levels.';
comment on column articles.tone_positive is 'Percentage of the body''s words with positive valence in the VADER lexicon (a negation in the 3 words before flips a word).';
comment on column articles.tone_negative is 'Percentage of the body''s words with negative valence in the VADER lexicon.';
comment on column articles.tone_polarity is 'tone_positive + tone_negative: how emotionally charged the wording is, whatever the direction.';
