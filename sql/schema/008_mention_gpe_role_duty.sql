-- 008: a country that holds a duty or a right ("Russia has a special responsibility", "Israel has
-- the right to defend itself"), leads ("is at the forefront of") or is named after an actor word and
-- "notably", "including" or "such as" ("allies such as Iran") is the state acting (pipeline 0.4.2).
-- Rows are not rewritten; a rerun of older days (the pipeline version changed) writes them anew.
comment on column mentions.gpe_role is 'For a mention of a country: government when the state acts (subject of an agentive verb such as said, condemned, signed; holder of a duty or right, "Russia has a special responsibility"; "our ally Turkey", "allies such as Iran"; "the Assad regime", "the Iranian regime", whose mention is the whole phrase), people for a plural demonym (Syrians); NULL otherwise (the place, or not determined). ACE 2005 GPE roles ORG and PER; see transforms/entities.py gpe_role_of and _regime_mentions.';
