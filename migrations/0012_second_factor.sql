-- The second factor (issue 11, DESIGN §7): RFC 6238 TOTP for every signed-in role.
-- The secret is stored encrypted with the field keys (key id beside it); the last accepted time
-- step refuses a replayed code. Recovery codes are random, so a SHA-256 of each is enough.
ALTER TABLE users
    ADD COLUMN totp_secret      bytea,
    ADD COLUMN totp_key_id      smallint,
    ADD COLUMN totp_enrolled_at timestamptz,
    ADD COLUMN totp_last_step   bigint,
    ADD CONSTRAINT users_totp_whole CHECK (
        (totp_secret IS NULL) = (totp_key_id IS NULL)
        AND (totp_secret IS NULL) = (totp_enrolled_at IS NULL));

CREATE TABLE recovery_codes (
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- A right password opens no session: it opens a short-lived challenge (keyed by the hash of a
-- random cookie value) that the second factor answers. While enrolling it holds the candidate
-- secret, encrypted, until a code proves the authenticator has it.
CREATE TABLE login_challenges (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    next         text NOT NULL DEFAULT '' CHECK (length(next) <= 2000),
    enrol_secret bytea,
    enrol_key_id smallint,
    CHECK ((enrol_secret IS NULL) = (enrol_key_id IS NULL))
);
CREATE INDEX login_challenges_user ON login_challenges (user_id);
CREATE INDEX login_challenges_expiry ON login_challenges (expires_at);
