-- callvault schema v16: key jobs find the interaction identifiers still sealed under an older
--   data key version by index (as they find objects and list records), and a key version is not
--   retired while an identifier depends on it.
CREATE INDEX op_interaction_identifier_key ON op_interaction_identifier (tenant_id, key_version);
