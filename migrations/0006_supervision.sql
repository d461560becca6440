-- Supervision at scale (issue 5): the /supervision dashboard over ~10^6 cases reads tallies kept
-- by a trigger in the same transaction as every case change, never a cache that can be stale.
--
-- A case contributes a few (bucket, day) keys under its lead department, owning leader and
-- assignment month (Asia/Shanghai); case_tally_keys() is that contribution, a pure function of
-- the row. The trigger subtracts OLD's keys and adds NEW's, so any transition (and any column
-- added to the rule later) is counted right by construction; a change that moves no key (a
-- reminder, an urge, a version bump) writes nothing.
--
-- buckets: assigned, responsive (签收 by accept_due_on and citizen told within 15 d: 响应率),
-- closed, resolved, on_time (closed by effective_due_on), rated, satisfied (满意 + 基本满意),
-- open (day = effective_due_on, 'infinity' before acceptance: due soon / overdue),
-- closed_in (day = month of closed_at: 本期办结). Other buckets have day = 'infinity'.

CREATE TABLE case_tallies (
    department_id bigint NOT NULL,
    leader_id     bigint NOT NULL,
    month         date NOT NULL,           -- first day of the assignment month (Asia/Shanghai)
    bucket        text NOT NULL,
    day           date NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (department_id, leader_id, month, bucket, day)
);
CREATE INDEX case_tallies_leader_idx ON case_tallies (leader_id);

-- 15: CaseRules::acceptance_notice_d (the 5 working days are already in accept_due_on).
CREATE FUNCTION case_tally_keys(status text, assigned_at timestamptz, accept_due_on date, accepted_at timestamptz,
                                notified_at timestamptz, effective_due_on date, closed_at timestamptz,
                                result text, rating text)
RETURNS TABLE (month date, bucket text, day date) LANGUAGE sql IMMUTABLE AS $$
    WITH c AS (
        SELECT date_trunc('month', assigned_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
               status IN ('assigned', 'accepted', 'returned', 'closure_submitted') AS open
    )
    SELECT c.month, k.bucket, k.day FROM c CROSS JOIN LATERAL (VALUES
        ('assigned', 'infinity'::date, true),
        ('responsive', 'infinity', accepted_at IS NOT NULL AND notified_at IS NOT NULL
             AND (accepted_at AT TIME ZONE 'Asia/Shanghai')::date <= accept_due_on
             AND notified_at <= assigned_at + interval '15 days'),
        ('open', COALESCE(effective_due_on, 'infinity'), c.open),
        ('closed', 'infinity', NOT c.open),
        ('resolved', 'infinity', NOT c.open AND result = 'resolved'),
        ('on_time', 'infinity', NOT c.open AND closed_at IS NOT NULL AND effective_due_on IS NOT NULL
             AND (closed_at AT TIME ZONE 'Asia/Shanghai')::date <= effective_due_on),
        ('closed_in', COALESCE(date_trunc('month', closed_at AT TIME ZONE 'Asia/Shanghai')::date, 'infinity'),
             NOT c.open AND closed_at IS NOT NULL),
        ('rated', 'infinity', rating IS NOT NULL),
        ('satisfied', 'infinity', rating IN ('satisfied', 'basically_satisfied'))
    ) AS k (bucket, day, present)
    WHERE k.present
$$;

CREATE FUNCTION case_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Keys in a fixed order: concurrent transactions lock tally rows in the same order (no deadlock).
    INSERT INTO case_tallies AS t (department_id, leader_id, month, bucket, day, n)
    SELECT d, l, m, b, dy, sum(s) FROM (
        SELECT OLD.lead_department_id AS d, OLD.owner_leader_id AS l, k.month AS m, k.bucket AS b, k.day AS dy, -1 AS s
        FROM case_tally_keys(OLD.status, OLD.assigned_at, OLD.accept_due_on, OLD.accepted_at, OLD.acceptance_notified_at,
                             OLD.effective_due_on, OLD.closed_at, OLD.result, OLD.rating) k
        WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT NEW.lead_department_id, NEW.owner_leader_id, k.month, k.bucket, k.day, 1
        FROM case_tally_keys(NEW.status, NEW.assigned_at, NEW.accept_due_on, NEW.accepted_at, NEW.acceptance_notified_at,
                             NEW.effective_due_on, NEW.closed_at, NEW.result, NEW.rating) k
        WHERE TG_OP <> 'DELETE'
    ) x
    GROUP BY d, l, m, b, dy HAVING sum(s) <> 0 ORDER BY d, l, m, b, dy
    ON CONFLICT (department_id, leader_id, month, bucket, day) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER case_tallies_apply AFTER INSERT OR UPDATE OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION case_tallies_apply();

-- The tallies recomputed from the cases (after a bulk load with the trigger off, and for checks).
CREATE VIEW case_tallies_direct AS
    SELECT c.lead_department_id AS department_id, c.owner_leader_id AS leader_id, k.month, k.bucket, k.day, count(*) AS n
    FROM cases c
    CROSS JOIN LATERAL case_tally_keys(c.status, c.assigned_at, c.accept_due_on, c.accepted_at, c.acceptance_notified_at,
                                       c.effective_due_on, c.closed_at, c.result, c.rating) k
    GROUP BY 1, 2, 3, 4, 5;

INSERT INTO case_tallies SELECT * FROM case_tallies_direct;

-- A department's inbox: its open cases by due date (first page without a sort).
CREATE INDEX cases_department_open_due_idx ON cases (lead_department_id, effective_due_on, id)
    WHERE status IN ('assigned', 'accepted', 'returned', 'closure_submitted');
-- Reminders and 催办: which reminder of which due date a case has had (the job's dedupe key).
CREATE UNIQUE INDEX case_events_job_once_idx ON case_events (case_id, kind, (data ->> 'job_key'))
    WHERE kind IN ('reminded', 'auto_urged');
