-- Supervision at scale, second step (issue 5): the dashboard summed ~56k (bucket, day) rows of
-- case_tallies per request (~150 ms at 10^6 cases). Now the same keys (case_tally_keys, 0006) are
-- kept pivoted, still by a trigger in the same transaction as every case change:
--
-- case_month_tallies: one row per lead department × owning leader × month, the buckets as
--   columns (a few thousand rows). `month` is the assignment month for every column except
--   closed_in, which counts the cases closed in that month (本期办结).
-- case_open_due: open cases with a due date by (department, leader, assignment month, due day).
--   Due soon and "not yet overdue" read only the days from today on (an index range); overdue is
--   open_dated minus those, so the long tail of past due days is never summed.

CREATE TABLE case_month_tallies (
    department_id bigint NOT NULL,
    leader_id     bigint NOT NULL,
    month         date NOT NULL,
    assigned      bigint NOT NULL DEFAULT 0,
    responsive    bigint NOT NULL DEFAULT 0,
    open          bigint NOT NULL DEFAULT 0,
    open_dated    bigint NOT NULL DEFAULT 0,   -- open with a due date (accepted at least once)
    closed        bigint NOT NULL DEFAULT 0,
    resolved      bigint NOT NULL DEFAULT 0,
    on_time       bigint NOT NULL DEFAULT 0,
    rated         bigint NOT NULL DEFAULT 0,
    satisfied     bigint NOT NULL DEFAULT 0,
    closed_in     bigint NOT NULL DEFAULT 0,   -- closed in `month` (whatever the assignment month)
    PRIMARY KEY (department_id, leader_id, month)
);

CREATE TABLE case_open_due (
    department_id bigint NOT NULL,
    leader_id     bigint NOT NULL,
    month         date NOT NULL,
    day           date NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (department_id, leader_id, month, day)
);
CREATE INDEX case_open_due_day_idx ON case_open_due (day) INCLUDE (department_id, leader_id, month, n);

-- The (bucket, day) keys of 0006 pivoted into the two shapes; `keys` carries a sign (+1 / -1).
-- Both the trigger and the direct views below go through these, so they agree by construction.
CREATE VIEW case_tallies_direct_month AS
    SELECT department_id, leader_id, CASE WHEN bucket = 'closed_in' THEN day ELSE month END AS month,
           COALESCE(sum(n) FILTER (WHERE bucket = 'assigned'), 0)::bigint AS assigned,
           COALESCE(sum(n) FILTER (WHERE bucket = 'responsive'), 0)::bigint AS responsive,
           COALESCE(sum(n) FILTER (WHERE bucket = 'open'), 0)::bigint AS open,
           COALESCE(sum(n) FILTER (WHERE bucket = 'open' AND day <> 'infinity'), 0)::bigint AS open_dated,
           COALESCE(sum(n) FILTER (WHERE bucket = 'closed'), 0)::bigint AS closed,
           COALESCE(sum(n) FILTER (WHERE bucket = 'resolved'), 0)::bigint AS resolved,
           COALESCE(sum(n) FILTER (WHERE bucket = 'on_time'), 0)::bigint AS on_time,
           COALESCE(sum(n) FILTER (WHERE bucket = 'rated'), 0)::bigint AS rated,
           COALESCE(sum(n) FILTER (WHERE bucket = 'satisfied'), 0)::bigint AS satisfied,
           COALESCE(sum(n) FILTER (WHERE bucket = 'closed_in'), 0)::bigint AS closed_in
    FROM case_tallies_direct GROUP BY 1, 2, 3;

CREATE VIEW case_open_due_direct AS
    SELECT department_id, leader_id, month, day, n FROM case_tallies_direct WHERE bucket = 'open' AND day <> 'infinity';

-- The trigger: OLD's keys subtracted, NEW's added; keys in a fixed order in both tables so that
-- concurrent transactions lock summary rows in the same order (no deadlock). A change that moves
-- no key (a reminder, an urge, a version bump) writes nothing.
CREATE OR REPLACE FUNCTION case_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH k AS (
        SELECT OLD.lead_department_id AS d, OLD.owner_leader_id AS l, k.month AS m, k.bucket AS b, k.day AS dy, -1 AS s
        FROM case_tally_keys(OLD.status, OLD.assigned_at, OLD.accept_due_on, OLD.accepted_at, OLD.acceptance_notified_at,
                             OLD.effective_due_on, OLD.closed_at, OLD.result, OLD.rating) k
        WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT NEW.lead_department_id, NEW.owner_leader_id, k.month, k.bucket, k.day, 1
        FROM case_tally_keys(NEW.status, NEW.assigned_at, NEW.accept_due_on, NEW.accepted_at, NEW.acceptance_notified_at,
                             NEW.effective_due_on, NEW.closed_at, NEW.result, NEW.rating) k
        WHERE TG_OP <> 'DELETE'
    ), monthly AS (
        INSERT INTO case_month_tallies AS t (department_id, leader_id, month, assigned, responsive, open, open_dated, closed,
                                             resolved, on_time, rated, satisfied, closed_in)
        SELECT * FROM (
            SELECT d, l, CASE WHEN b = 'closed_in' THEN dy ELSE m END AS mm,
                   COALESCE(sum(s) FILTER (WHERE b = 'assigned'), 0) AS assigned,
                   COALESCE(sum(s) FILTER (WHERE b = 'responsive'), 0) AS responsive,
                   COALESCE(sum(s) FILTER (WHERE b = 'open'), 0) AS open,
                   COALESCE(sum(s) FILTER (WHERE b = 'open' AND dy <> 'infinity'), 0) AS open_dated,
                   COALESCE(sum(s) FILTER (WHERE b = 'closed'), 0) AS closed,
                   COALESCE(sum(s) FILTER (WHERE b = 'resolved'), 0) AS resolved,
                   COALESCE(sum(s) FILTER (WHERE b = 'on_time'), 0) AS on_time,
                   COALESCE(sum(s) FILTER (WHERE b = 'rated'), 0) AS rated,
                   COALESCE(sum(s) FILTER (WHERE b = 'satisfied'), 0) AS satisfied,
                   COALESCE(sum(s) FILTER (WHERE b = 'closed_in'), 0) AS closed_in
            FROM k GROUP BY 1, 2, 3
        ) x
        WHERE (assigned, responsive, open, open_dated, closed, resolved, on_time, rated, satisfied, closed_in)
              <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        ORDER BY 1, 2, 3
        ON CONFLICT (department_id, leader_id, month) DO UPDATE SET
            assigned = t.assigned + EXCLUDED.assigned, responsive = t.responsive + EXCLUDED.responsive,
            open = t.open + EXCLUDED.open, open_dated = t.open_dated + EXCLUDED.open_dated,
            closed = t.closed + EXCLUDED.closed, resolved = t.resolved + EXCLUDED.resolved,
            on_time = t.on_time + EXCLUDED.on_time, rated = t.rated + EXCLUDED.rated,
            satisfied = t.satisfied + EXCLUDED.satisfied, closed_in = t.closed_in + EXCLUDED.closed_in
    )
    INSERT INTO case_open_due AS t (department_id, leader_id, month, day, n)
    SELECT d, l, m, dy, sum(s) FROM k WHERE b = 'open' AND dy <> 'infinity'
    GROUP BY d, l, m, dy HAVING sum(s) <> 0 ORDER BY d, l, m, dy
    ON CONFLICT (department_id, leader_id, month, day) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;

-- The (bucket, day) table of 0006 is no longer kept or read (emptied rather than dropped so that
-- code compiled against 0006 still builds; a later migration may drop it).
TRUNCATE case_tallies;
COMMENT ON TABLE case_tallies IS 'superseded by case_month_tallies and case_open_due (0008); not maintained';

INSERT INTO case_month_tallies SELECT * FROM case_tallies_direct_month;
INSERT INTO case_open_due SELECT * FROM case_open_due_direct;

-- The 通报 list (open cases urged before a cut-off, oldest urge first) under a department or
-- leader filter, and its count, from the index alone.
CREATE INDEX cases_open_urged_cover_idx ON cases (first_urged_at, id) INCLUDE (lead_department_id, owner_leader_id, visit_id)
    WHERE first_urged_at IS NOT NULL AND status IN ('assigned', 'accepted', 'returned', 'closure_submitted');
