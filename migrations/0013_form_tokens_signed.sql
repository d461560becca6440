-- The registration form's token is signed with its expiry (prepare::form_token) and stored only
-- when a submission uses it, so an anonymous GET of the form writes no row (DESIGN §7). Unused
-- rows of the old scheme mean nothing now; the rest keep their receipts until the purge
-- (purge.rs) removes them after expires_at.
DELETE FROM form_tokens WHERE used_at IS NULL;
ALTER TABLE form_tokens ADD COLUMN expires_at timestamptz;
UPDATE form_tokens SET expires_at = created_at + interval '1 day';
ALTER TABLE form_tokens ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE form_tokens ADD CONSTRAINT form_tokens_stored_used CHECK (used_at IS NOT NULL);
CREATE INDEX form_tokens_expires_idx ON form_tokens (expires_at);
-- Expired sessions are purged by their timestamps.
CREATE INDEX IF NOT EXISTS sessions_last_seen_idx ON sessions (last_seen_at);
