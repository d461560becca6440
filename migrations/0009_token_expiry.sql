-- API tokens expire (issue 11, DESIGN §7): each token carries the instant it stops working, set at
-- issue from the configured lifetime (default 90 days). Tokens issued before this migration get
-- the default lifetime counted from their creation.
--
-- No grant is needed: the app role's grants are on the whole table (re-applied after every
-- migration run), so they cover the new column.

ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
UPDATE api_tokens SET expires_at = created_at + interval '90 days';
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;
