-- 复查 → 复核 → 终结 online (issue 15, DESIGN §3/§4): the bodies that may review a department's
-- decisions, the body a review is addressed to, and the citizen's own request from /lookup.

-- A department's superior bodies besides its own jurisdiction's government (always a reviewer):
-- for 县住建局, 金华市住建局. A government's reviewer is the parent jurisdiction's government.
CREATE TABLE department_superiors (
    department_id          bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    superior_department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    PRIMARY KEY (department_id, superior_department_id),
    CONSTRAINT department_superiors_not_self CHECK (department_id <> superior_department_id)
);

-- The reviewing body: a department (department_id) or a government (department_id NULL), and the
-- jurisdiction whose supervisors decide. NULL on reviews recorded before bodies were chosen.
ALTER TABLE reviews
    ADD COLUMN department_id   bigint REFERENCES departments(id),
    ADD COLUMN jurisdiction_id bigint REFERENCES jurisdictions(id),
    ADD COLUMN body_name       text CHECK (length(body_name) BETWEEN 1 AND 60),
    ADD CONSTRAINT reviews_body CHECK (
        (jurisdiction_id IS NULL) = (body_name IS NULL) AND (department_id IS NULL OR jurisdiction_id IS NOT NULL));
-- NULL: the citizen asked online, from the lookup page.
ALTER TABLE reviews ALTER COLUMN recorded_by DROP NOT NULL;

-- 送达 of a case's latest issued document of `kind` (or of its issued correction): the earliest
-- delivery, an SMS one on the China date its gateway receipt says delivered (none without a
-- receipt). NULL: not served yet — the citizen's 30 days have not started.
CREATE FUNCTION case_served_on(case_id bigint, kind text) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT min(CASE WHEN dd.method <> 'sms' THEN dd.delivered_on
                    WHEN n.receipt = 'delivered' THEN (n.receipt_at AT TIME ZONE 'Asia/Shanghai')::date END)
    FROM documents d JOIN document_deliveries dd ON dd.document_id = d.id
    LEFT JOIN notifications n ON n.id = dd.notification_id
    WHERE d.case_id = $1 AND d.kind = $2 AND d.status = 'issued'
      AND d.issued_at >= (SELECT max(o.issued_at) FROM documents o
                          WHERE o.case_id = $1 AND o.kind = $2 AND o.status = 'issued' AND o.supersedes_id IS NULL)
$$;

-- The kind of document a case's next 复查/复核 request is against: the 处理意见书, then the 复查意见书.
CREATE FUNCTION review_basis_kind(case_id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM reviews r WHERE r.case_id = $1) THEN 'review_opinion' ELSE 'opinion' END
$$;

-- 听证: a supervisor records a hearing on an open 复核 (its days do not count towards it).
ALTER TABLE case_events DROP CONSTRAINT case_events_kind_check;
ALTER TABLE case_events ADD CONSTRAINT case_events_kind_check CHECK (kind IN
    ('assigned', 'accepted', 'returned', 'progress', 'extension_requested',
     'extension_approved', 'extension_refused', 'acceptance_notified',
     'closure_submitted', 'closure_approved', 'closure_rejected', 'reminded',
     'auto_urged', 'urged', 'rated', 'reopened', 'review_requested',
     'review_decided', 'terminated', 'handed_over', 'reassigned', 'not_accepted', 'extension_notified', 'opinion_issued', 'hearing'));
