-- Issue 16: a saved reception may be corrected the same day by whoever recorded it. Each earlier
-- version is kept: its texts sealed again to this row (src/crypto), its issues as they read
-- (summaries and outcomes are not sealed on `issues` either). History: the app role only adds
-- and reads rows (src/db/mod.rs GRANTS).
CREATE TABLE reception_versions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reception_id        bigint NOT NULL REFERENCES receptions(id) ON DELETE CASCADE,
    version             integer NOT NULL CHECK (version >= 1),
    statement_cipher    bytea CHECK (length(statement_cipher) > 28),
    statement_key_id    smallint CHECK (statement_key_id >= 0),
    consultation_cipher bytea CHECK (length(consultation_cipher) > 28),
    consultation_key_id smallint CHECK (consultation_key_id >= 0),
    issues              jsonb NOT NULL,
    recorded_by         bigint NOT NULL REFERENCES users(id),
    recorded_at         timestamptz NOT NULL,
    replaced_at         timestamptz NOT NULL,
    UNIQUE (reception_id, version),
    CHECK (num_nulls(statement_cipher, statement_key_id) IN (0, 2)),
    CHECK (num_nulls(consultation_cipher, consultation_key_id) IN (0, 2))
);
COMMENT ON COLUMN reception_versions.statement_cipher IS 'bound to reception_versions.statement and the row id';
COMMENT ON COLUMN reception_versions.consultation_cipher IS 'bound to reception_versions.consultation and the row id';
