-- Documents in writing (文书, issue 15, DESIGN §3/§4): the statutory notices and opinions of a case,
-- and the department's 交办单 and 督办单. A draft is edited; an issued document is frozen — the app
-- role may not change or delete it (trigger below) — and a correction is a new document that
-- supersedes it. Deliveries (送达) are rows of their own. The addressee and the body are personal
-- data, sealed like the other free texts (AAD documents/addressee|body/id).

-- 机关代字 for document numbers (浦信, 浦住建…): empty means derived from the name (see rules).
ALTER TABLE jurisdictions
    ADD COLUMN doc_abbr text NOT NULL DEFAULT '' CHECK (length(doc_abbr) <= 10),
    -- {abbr}{kind}〔{year}〕{n}号 unless a jurisdiction writes its numbers otherwise.
    ADD COLUMN doc_number_pattern text NOT NULL DEFAULT '{abbr}{kind}〔{year}〕{n}号'
        CHECK (length(doc_number_pattern) BETWEEN 4 AND 60 AND doc_number_pattern LIKE '%{n}%');
ALTER TABLE departments
    ADD COLUMN doc_abbr text NOT NULL DEFAULT '' CHECK (length(doc_abbr) <= 10);

-- The citizen's 查询码: 12 characters of the registration codes' alphabet (no 0/O, 1/I/L), from
-- the strong random bytes of gen_random_uuid (the 13 bytes a v4 UUID leaves wholly random; the
-- modulo bias of 256 mod 31 is below what matters for a code that lookups rate-limit). A column
-- default, so every way a case is made gets one, and existing cases get theirs now.
CREATE FUNCTION new_query_code() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTUVWXYZ', 1 + get_byte(b, i) % 31, 1), '' ORDER BY i)
    FROM (SELECT uuid_send(gen_random_uuid()) AS b) u, unnest(ARRAY[0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14]) AS i
$$;
ALTER TABLE cases ADD COLUMN query_code text NOT NULL DEFAULT new_query_code()
    CHECK (query_code ~ '^[2-9A-HJKMNP-Z]{12}$');
ALTER TABLE cases ADD CONSTRAINT cases_query_code_key UNIQUE (query_code);

CREATE TABLE documents (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id             bigint NOT NULL REFERENCES cases(id),
    kind                text NOT NULL CHECK (kind IN ('acceptance', 'non_acceptance', 'extension',
                            'opinion', 'review_opinion', 're_review_opinion', 'assignment', 'urging')),
    -- The issuing body: a department, or a jurisdiction's government / petition office.
    department_id       bigint REFERENCES departments(id),
    jurisdiction_id     bigint REFERENCES jurisdictions(id),
    issuer_name         text NOT NULL CHECK (length(issuer_name) BETWEEN 1 AND 60),
    addressee_cipher    bytea NOT NULL CHECK (length(addressee_cipher) > 28),
    addressee_key_id    smallint NOT NULL CHECK (addressee_key_id >= 0),
    body_cipher         bytea NOT NULL CHECK (length(body_cipher) > 28),
    body_key_id         smallint NOT NULL CHECK (body_key_id >= 0),
    drafted_by          bigint NOT NULL REFERENCES users(id),
    drafted_at          timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'issued')),
    year                integer CHECK (year BETWEEN 2000 AND 2200),
    seq                 integer CHECK (seq >= 1),
    number              text CHECK (length(number) BETWEEN 1 AND 80),
    issued_by           bigint REFERENCES users(id),
    issued_at           timestamptz,
    issued_on           date,                      -- the date printed on it (China time)
    -- SM3 over number, kind, issuer, addressee, body and date: what was issued, checkable later.
    text_hash           bytea CHECK (length(text_hash) = 32),
    supersedes_id       bigint UNIQUE REFERENCES documents(id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT documents_one_issuer CHECK (num_nonnulls(department_id, jurisdiction_id) = 1),
    CONSTRAINT documents_issued CHECK (
        (status = 'issued') = (number IS NOT NULL)
        AND num_nulls(year, seq, number, issued_by, issued_at, issued_on, text_hash) IN (0, 7))
);
CREATE INDEX documents_case_idx ON documents (case_id);
-- Two counties may share a 代字 (浦江, 浦阳): a number is unique per body, kind and year.
CREATE UNIQUE INDEX documents_number_key ON documents
    ((COALESCE('d:' || department_id, 'j:' || jurisdiction_id)), kind, year, seq) WHERE status = 'issued';

-- One counter per issuing body, kind and year; the issuing transaction holds its row, so numbers
-- are consecutive (a rolled-back issue gives its number back) and never repeat.
CREATE TABLE document_sequences (
    body        text NOT NULL CHECK (body ~ '^[dj]:[0-9]+$'),    -- d:<department> / j:<jurisdiction>
    kind        text NOT NULL,
    year        integer NOT NULL,
    last        integer NOT NULL CHECK (last >= 1),
    PRIMARY KEY (body, kind, year)
);

CREATE TABLE document_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     bigint NOT NULL REFERENCES documents(id),
    method          text NOT NULL CHECK (method IN ('sms', 'hand', 'mail', 'electronic')),
    delivered_on    date NOT NULL,                 -- 送达日期: the citizen's 30 days run from it
    reference       text NOT NULL DEFAULT '' CHECK (length(reference) <= 60),   -- 挂号信单号…
    notification_id bigint REFERENCES notifications(id),
    recorded_by     bigint NOT NULL REFERENCES users(id),
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX document_deliveries_document_idx ON document_deliveries (document_id);

-- Issued is final: neither changed nor deleted (a draft may be discarded). Deliveries are history
-- (src/db: no UPDATE or DELETE for the app role).
CREATE FUNCTION documents_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'issued' THEN
        RAISE EXCEPTION 'issued documents cannot be changed' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER documents_frozen BEFORE UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_frozen();
CREATE TRIGGER documents_updated_at BEFORE UPDATE ON documents FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The registration a case came from: its reception's, or the one made for its survey item (带案下访).
-- The citizen proves it (code or 查询码 + the phone's last four digits) to follow the case.
CREATE FUNCTION case_registration(case_id bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT rc.registration_id FROM cases c JOIN issues i ON i.id = c.issue_id
         JOIN receptions rc ON rc.id = i.reception_id WHERE c.id = case_id),
        (SELECT r.id FROM cases c JOIN registrations r ON r.survey_item_id = c.survey_item_id
         WHERE c.id = case_id ORDER BY r.id LIMIT 1))
$$;
