-- 006: the role a country plays in a mention (issue 12), so that analysts can tell a state acting
-- ("The UK condemned ...") from the place ("fighting in Syria") and from its people ("Syrians")
-- without re-reading the text. Rows written before this migration (pipeline < 0.4.0) have NULL.
alter table mentions add column gpe_role varchar;
comment on column mentions.gpe_role is 'For a mention of a country: government when the state acts (subject of an agentive verb such as said, condemned, signed; "our ally Turkey"), people for a plural demonym (Syrians); NULL otherwise (the place, or not determined). ACE 2005 GPE roles ORG and PER; see transforms/entities.py gpe_role_of.';
