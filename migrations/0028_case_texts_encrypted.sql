-- 国密 (issue 13): the free texts of the reception and the case — 接谈情况 and 会商意见, the
-- 答复意见, the case history's texts, the citizen's rating comment and the survey dossier — are stored as SM4-GCM
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

-- Why an issue was not accepted (不予受理), as the citizen was told.
ALTER TABLE issues
    ADD COLUMN not_accepted_reason_cipher bytea CHECK (length(not_accepted_reason_cipher) > 28),
    ADD COLUMN not_accepted_reason_key_id smallint CHECK (not_accepted_reason_key_id >= 0),
    ADD CONSTRAINT issues_not_accepted_reason_sealed CHECK (
        num_nulls(not_accepted_reason_cipher, not_accepted_reason_key_id) IN (0, 2)
        AND (not_accepted_reason_cipher IS NULL OR not_accepted_reason IS NULL)),
    DROP CONSTRAINT issues_not_accepted_reason,
    ADD CONSTRAINT issues_not_accepted_reason CHECK (
        outcome <> 'not_accepted' OR not_accepted_reason IS NOT NULL OR not_accepted_reason_cipher IS NOT NULL);

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

-- 访前调查: who reported it and the dossier (一事一档) texts. The summary stays in clear: it is
-- the subject line that lists and the 带案下访 case's title show.
ALTER TABLE survey_items
    ADD COLUMN reporter_cipher bytea CHECK (length(reporter_cipher) > 28),
    ADD COLUMN reporter_key_id smallint CHECK (reporter_key_id >= 0),
    ADD CONSTRAINT survey_items_reporter_sealed CHECK (
        num_nulls(reporter_cipher, reporter_key_id) IN (0, 2) AND (reporter_cipher IS NULL OR reporter = '')),
    ADD COLUMN background_cipher bytea CHECK (length(background_cipher) > 28),
    ADD COLUMN background_key_id smallint CHECK (background_key_id >= 0),
    ADD CONSTRAINT survey_items_background_sealed CHECK (
        num_nulls(background_cipher, background_key_id) IN (0, 2) AND (background_cipher IS NULL OR background = '')),
    ADD COLUMN policy_basis_cipher bytea CHECK (length(policy_basis_cipher) > 28),
    ADD COLUMN policy_basis_key_id smallint CHECK (policy_basis_key_id >= 0),
    ADD CONSTRAINT survey_items_policy_basis_sealed CHECK (
        num_nulls(policy_basis_cipher, policy_basis_key_id) IN (0, 2) AND (policy_basis_cipher IS NULL OR policy_basis = '')),
    ADD COLUMN proposed_handling_cipher bytea CHECK (length(proposed_handling_cipher) > 28),
    ADD COLUMN proposed_handling_key_id smallint CHECK (proposed_handling_key_id >= 0),
    ADD CONSTRAINT survey_items_proposed_handling_sealed CHECK (
        num_nulls(proposed_handling_cipher, proposed_handling_key_id) IN (0, 2) AND (proposed_handling_cipher IS NULL OR proposed_handling = ''));

-- 复查: the request's and the decision's texts were kept twice, here in clear and in their case
-- event (sealed from now on). The case event is the one kept; this copy is emptied and no longer
-- written.
UPDATE reviews SET text = '';
ALTER TABLE reviews ADD CONSTRAINT reviews_text_kept_in_case_events CHECK (text = '');

COMMENT ON COLUMN receptions.statement_cipher IS 'format byte | nonce | ciphertext and tag (src/crypto/software.rs); bound to receptions.statement and the row id';
COMMENT ON COLUMN receptions.consultation_cipher IS 'bound to receptions.consultation and the row id';
COMMENT ON COLUMN cases.reply_cipher IS 'bound to cases.reply and the row id';
COMMENT ON COLUMN case_events.text_cipher IS 'bound to case_events.text and the row id';
COMMENT ON COLUMN feedback.comment_cipher IS 'bound to feedback.comment and the row id';
COMMENT ON COLUMN survey_items.background_cipher IS 'bound to survey_items.background and the row id (reporter, policy_basis, proposed_handling alike)';
