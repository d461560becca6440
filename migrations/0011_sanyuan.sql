-- 三员分立 (issue 11, DESIGN §2): a new account has no role until the security administrator
-- assigns one, and a password reset is a one-time link (24 h) instead of a password someone sees.

ALTER TABLE users ALTER COLUMN role DROP NOT NULL;
-- A role-less account has no department or leader link; a handler has a department, a leader
-- account a leader, nobody else either (NULL-safe: the old checks passed any row without a role).
ALTER TABLE users DROP CONSTRAINT users_check, DROP CONSTRAINT users_check1;
ALTER TABLE users
    ADD CONSTRAINT users_department_link CHECK ((role IS NOT DISTINCT FROM 'handler') = (department_id IS NOT NULL)),
    ADD CONSTRAINT users_leader_link CHECK ((role IS NOT DISTINCT FROM 'leader') = (leader_id IS NOT NULL));

-- Reset links: only a hash of the token is stored; single-use (used_at) and short-lived (expires_at).
-- Issuing a new link for an account voids the earlier unused ones (they are deleted).
CREATE TABLE password_resets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issued_by   bigint REFERENCES users(id),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX password_resets_user ON password_resets (user_id) WHERE used_at IS NULL;
