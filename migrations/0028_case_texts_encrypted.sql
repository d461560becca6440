-- 国密 (issue 13): the free texts of the reception and the case — 接谈情况 and 会商意见, the
-- 答复意见, the case history's texts and the citizen's rating comment — are stored as SM4-GCM
-- ciphertext bound to their table, column and row (src/crypto), with the key id beside them.
-- SQL holds no keys: rows written before this migration keep their plaintext until
-- `xiafang keys rotate` seals it and clears the plaintext (src/crypto/free_text.rs); readers
-- take either meanwhile. An empty text stays '' in clear (there is nothing to hide).
ALTER TABLE receptions
    ADD COLUMN statement_cipher bytea CHECK (length(statement_cipher) > 28),
    ADD COLUMN statement_key_id smallint CHECK (statement_key_id >= 0),
    ADD COLUMN consultation_cipher bytea CHECK (length(consultation_cipher) > 28),
    ADD COLUMN consultation_key_id smallint CHECK (consultation_key_id >= 0),
    ADD CONSTRAINT receptions_statement_sealed CHECK (
        num_nulls(statement_cipher, statement_key_id) IN (0, 2) AND (statement_cipher IS NULL OR statement = '')),
    ADD CONSTRAINT receptions_consultation_sealed CHECK (
        num_nulls(consultation_cipher, consultation_key_id) IN (0, 2) AND (consultation_cipher IS NULL OR consultation = ''));

ALTER TABLE cases
    ADD COLUMN reply_cipher bytea CHECK (length(reply_cipher) > 28),
    ADD COLUMN reply_key_id smallint CHECK (reply_key_id >= 0),
    ADD CONSTRAINT cases_reply_sealed CHECK (
        num_nulls(reply_cipher, reply_key_id) IN (0, 2) AND (reply_cipher IS NULL OR reply IS NULL)),
    DROP CONSTRAINT cases_result_required,
    ADD CONSTRAINT cases_result_required CHECK (
        status NOT IN ('closure_submitted', 'closed', 'rated')
        OR (result IS NOT NULL AND (reply IS NOT NULL OR reply_cipher IS NOT NULL) AND closure_submitted_by IS NOT NULL));

-- case_events stays insert-only for the application: new rows are written sealed; the owner's
-- `keys rotate` lifts the no-update trigger inside its own transaction to seal or re-encrypt.
ALTER TABLE case_events
    ADD COLUMN text_cipher bytea CHECK (length(text_cipher) > 28),
    ADD COLUMN text_key_id smallint CHECK (text_key_id >= 0),
    ADD CONSTRAINT case_events_text_sealed CHECK (
        num_nulls(text_cipher, text_key_id) IN (0, 2) AND (text_cipher IS NULL OR text = ''));

ALTER TABLE feedback
    ADD COLUMN comment_cipher bytea CHECK (length(comment_cipher) > 28),
    ADD COLUMN comment_key_id smallint CHECK (comment_key_id >= 0),
    ADD CONSTRAINT feedback_comment_sealed CHECK (
        num_nulls(comment_cipher, comment_key_id) IN (0, 2) AND (comment_cipher IS NULL OR comment = ''));

COMMENT ON COLUMN receptions.statement_cipher IS 'format byte | nonce | ciphertext and tag (src/crypto/software.rs); bound to receptions.statement and the row id';
COMMENT ON COLUMN receptions.consultation_cipher IS 'bound to receptions.consultation and the row id';
COMMENT ON COLUMN cases.reply_cipher IS 'bound to cases.reply and the row id';
COMMENT ON COLUMN case_events.text_cipher IS 'bound to case_events.text and the row id';
COMMENT ON COLUMN feedback.comment_cipher IS 'bound to feedback.comment and the row id';
