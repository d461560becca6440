-- The clocks follow the documents (issue 15): an issued 不予受理告知书 ends a case as
-- `not_accepted` (the citizen is pointed to the right channel; no closure clock runs). Such a case
-- is neither open nor closed in the tallies: it counts as assigned and, when told within 15 days,
-- as responsive, and nowhere else.

ALTER TABLE cases DROP CONSTRAINT cases_status_check;
ALTER TABLE cases ADD CONSTRAINT cases_status_check CHECK (status IN
    ('assigned', 'accepted', 'returned', 'closure_submitted', 'closed', 'rated', 'in_review', 'terminated',
     'not_accepted'));

-- As 0006, with `not_accepted` kept out of every closure bucket. No row had that status before,
-- so every key already counted is the same under both versions.
CREATE OR REPLACE FUNCTION case_tally_keys(status text, assigned_at timestamptz, accept_due_on date, accepted_at timestamptz,
                                notified_at timestamptz, effective_due_on date, closed_at timestamptz,
                                result text, rating text)
RETURNS TABLE (month date, bucket text, day date) LANGUAGE sql IMMUTABLE AS $$
    WITH c AS (
        SELECT date_trunc('month', assigned_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
               status IN ('assigned', 'accepted', 'returned', 'closure_submitted') AS open,
               status IN ('closed', 'rated', 'in_review', 'terminated') AS done
    )
    SELECT c.month, k.bucket, k.day FROM c CROSS JOIN LATERAL (VALUES
        ('assigned', 'infinity'::date, true),
        ('responsive', 'infinity', notified_at IS NOT NULL AND notified_at <= assigned_at + interval '15 days'
             AND (status = 'not_accepted'
                  OR (accepted_at IS NOT NULL AND (accepted_at AT TIME ZONE 'Asia/Shanghai')::date <= accept_due_on))),
        ('open', COALESCE(effective_due_on, 'infinity'), c.open),
        ('closed', 'infinity', c.done),
        ('resolved', 'infinity', c.done AND result = 'resolved'),
        ('on_time', 'infinity', c.done AND closed_at IS NOT NULL AND effective_due_on IS NOT NULL
             AND (closed_at AT TIME ZONE 'Asia/Shanghai')::date <= effective_due_on),
        ('closed_in', COALESCE(date_trunc('month', closed_at AT TIME ZONE 'Asia/Shanghai')::date, 'infinity'),
             c.done AND closed_at IS NOT NULL),
        ('rated', 'infinity', rating IS NOT NULL),
        ('satisfied', 'infinity', rating IN ('satisfied', 'basically_satisfied'))
    ) AS k (bucket, day, present)
    WHERE k.present
$$;

-- The events issued documents write on their case (transitions::written).
ALTER TABLE case_events DROP CONSTRAINT case_events_kind_check;
ALTER TABLE case_events ADD CONSTRAINT case_events_kind_check CHECK (kind IN
    ('assigned', 'accepted', 'returned', 'progress', 'extension_requested', 'extension_approved', 'extension_refused',
     'acceptance_notified', 'closure_submitted', 'closure_approved', 'closure_rejected', 'reminded', 'auto_urged',
     'urged', 'rated', 'reopened', 'review_requested', 'review_decided', 'terminated', 'handed_over', 'reassigned',
     'not_accepted', 'extension_notified', 'opinion_issued'));
