-- 007: "the Assad regime", "the Iranian regime" are mentions of the country acting as a state
-- (pipeline 0.4.1): the column's description says so. Rows are not rewritten; a rerun of older
-- days (the pipeline version changed) writes them with the new mentions.
comment on column mentions.gpe_role is 'For a mention of a country: government when the state acts (subject of an agentive verb such as said, condemned, signed; "our ally Turkey"; "the Assad regime", "the Iranian regime", whose mention is the whole phrase), people for a plural demonym (Syrians); NULL otherwise (the place, or not determined). ACE 2005 GPE roles ORG and PER; see transforms/entities.py gpe_role_of and _regime_mentions.';
