-- Scoped supervision (issue 12, DESIGN §11): the case tallies of 0008 were global, so a county's
-- dashboard would count every county's cases. They are now keyed also by the case's visit's host
-- and organising jurisdictions; a scoped dashboard sums the rows whose host or organiser lies in
-- its subtree (the same rule as the case file), and a city or province groups them by host to rank
-- its counties. A visit whose host or organiser changes moves its cases' rows (second trigger).

DROP VIEW case_tallies_direct_month;
DROP VIEW case_open_due_direct;
DROP VIEW case_tallies_direct;

CREATE VIEW case_tallies_direct AS
    SELECT c.lead_department_id AS department_id, c.owner_leader_id AS leader_id, k.month, k.bucket, k.day, count(*) AS n,
           v.county_id AS host_id, v.organiser_id
    FROM cases c JOIN visits v ON v.id = c.visit_id
    CROSS JOIN LATERAL case_tally_keys(c.status, c.assigned_at, c.accept_due_on, c.accepted_at, c.acceptance_notified_at,
                                       c.effective_due_on, c.closed_at, c.result, c.rating) k
    GROUP BY 1, 2, 3, 4, 5, 7, 8;

ALTER TABLE case_month_tallies ADD COLUMN host_id bigint, ADD COLUMN organiser_id bigint;
ALTER TABLE case_open_due ADD COLUMN host_id bigint, ADD COLUMN organiser_id bigint;
TRUNCATE case_month_tallies, case_open_due;
ALTER TABLE case_month_tallies ALTER COLUMN host_id SET NOT NULL, ALTER COLUMN organiser_id SET NOT NULL,
    DROP CONSTRAINT case_month_tallies_pkey,
    ADD PRIMARY KEY (department_id, leader_id, month, host_id, organiser_id);
ALTER TABLE case_open_due ALTER COLUMN host_id SET NOT NULL, ALTER COLUMN organiser_id SET NOT NULL,
    DROP CONSTRAINT case_open_due_pkey,
    ADD PRIMARY KEY (department_id, leader_id, month, day, host_id, organiser_id);
DROP INDEX case_open_due_day_idx;
CREATE INDEX case_open_due_day_idx ON case_open_due (day)
    INCLUDE (department_id, leader_id, month, n, host_id, organiser_id);

-- Same column order as the tables (the new keys last), so `INSERT … SELECT *` still fits.
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
           COALESCE(sum(n) FILTER (WHERE bucket = 'closed_in'), 0)::bigint AS closed_in,
           host_id, organiser_id
    FROM case_tallies_direct GROUP BY 1, 2, 3, host_id, organiser_id;

CREATE VIEW case_open_due_direct AS
    SELECT department_id, leader_id, month, day, n, host_id, organiser_id
    FROM case_tallies_direct WHERE bucket = 'open' AND day <> 'infinity';

-- The trigger of 0008 with the visit's host and organiser in every key.
CREATE OR REPLACE FUNCTION case_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH k AS (
        SELECT OLD.lead_department_id AS d, OLD.owner_leader_id AS l, k.month AS m, k.bucket AS b, k.day AS dy, -1 AS s,
               v.county_id AS h, v.organiser_id AS o
        FROM visits v CROSS JOIN LATERAL
             case_tally_keys(OLD.status, OLD.assigned_at, OLD.accept_due_on, OLD.accepted_at, OLD.acceptance_notified_at,
                             OLD.effective_due_on, OLD.closed_at, OLD.result, OLD.rating) k
        WHERE TG_OP <> 'INSERT' AND v.id = OLD.visit_id
        UNION ALL
        SELECT NEW.lead_department_id, NEW.owner_leader_id, k.month, k.bucket, k.day, 1, v.county_id, v.organiser_id
        FROM visits v CROSS JOIN LATERAL
             case_tally_keys(NEW.status, NEW.assigned_at, NEW.accept_due_on, NEW.accepted_at, NEW.acceptance_notified_at,
                             NEW.effective_due_on, NEW.closed_at, NEW.result, NEW.rating) k
        WHERE TG_OP <> 'DELETE' AND v.id = NEW.visit_id
    ), monthly AS (
        INSERT INTO case_month_tallies AS t (department_id, leader_id, month, assigned, responsive, open, open_dated, closed,
                                             resolved, on_time, rated, satisfied, closed_in, host_id, organiser_id)
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
                   COALESCE(sum(s) FILTER (WHERE b = 'closed_in'), 0) AS closed_in,
                   h, o
            FROM k GROUP BY 1, 2, 3, h, o
        ) x
        WHERE (assigned, responsive, open, open_dated, closed, resolved, on_time, rated, satisfied, closed_in)
              <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        ORDER BY 1, 2, 3, h, o
        ON CONFLICT (department_id, leader_id, month, host_id, organiser_id) DO UPDATE SET
            assigned = t.assigned + EXCLUDED.assigned, responsive = t.responsive + EXCLUDED.responsive,
            open = t.open + EXCLUDED.open, open_dated = t.open_dated + EXCLUDED.open_dated,
            closed = t.closed + EXCLUDED.closed, resolved = t.resolved + EXCLUDED.resolved,
            on_time = t.on_time + EXCLUDED.on_time, rated = t.rated + EXCLUDED.rated,
            satisfied = t.satisfied + EXCLUDED.satisfied, closed_in = t.closed_in + EXCLUDED.closed_in
    )
    INSERT INTO case_open_due AS t (department_id, leader_id, month, day, n, host_id, organiser_id)
    SELECT d, l, m, dy, sum(s), h, o FROM k WHERE b = 'open' AND dy <> 'infinity'
    GROUP BY d, l, m, dy, h, o HAVING sum(s) <> 0 ORDER BY d, l, m, dy, h, o
    ON CONFLICT (department_id, leader_id, month, day, host_id, organiser_id) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;

-- A visit moved to another host or organiser: its cases' keys leave the old pair and join the new
-- one (the same upserts as above, over all its cases at once).
CREATE FUNCTION visits_rekey_case_tallies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH k AS (
        SELECT c.lead_department_id AS d, c.owner_leader_id AS l, k.month AS m, k.bucket AS b, k.day AS dy, p.s, p.h, p.o
        FROM cases c CROSS JOIN LATERAL
             case_tally_keys(c.status, c.assigned_at, c.accept_due_on, c.accepted_at, c.acceptance_notified_at,
                             c.effective_due_on, c.closed_at, c.result, c.rating) k
        CROSS JOIN (VALUES (-1, OLD.county_id, OLD.organiser_id), (1, NEW.county_id, NEW.organiser_id)) p (s, h, o)
        WHERE c.visit_id = NEW.id
    ), monthly AS (
        INSERT INTO case_month_tallies AS t (department_id, leader_id, month, assigned, responsive, open, open_dated, closed,
                                             resolved, on_time, rated, satisfied, closed_in, host_id, organiser_id)
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
                   COALESCE(sum(s) FILTER (WHERE b = 'closed_in'), 0) AS closed_in,
                   h, o
            FROM k GROUP BY 1, 2, 3, h, o
        ) x
        WHERE (assigned, responsive, open, open_dated, closed, resolved, on_time, rated, satisfied, closed_in)
              <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        ORDER BY 1, 2, 3, h, o
        ON CONFLICT (department_id, leader_id, month, host_id, organiser_id) DO UPDATE SET
            assigned = t.assigned + EXCLUDED.assigned, responsive = t.responsive + EXCLUDED.responsive,
            open = t.open + EXCLUDED.open, open_dated = t.open_dated + EXCLUDED.open_dated,
            closed = t.closed + EXCLUDED.closed, resolved = t.resolved + EXCLUDED.resolved,
            on_time = t.on_time + EXCLUDED.on_time, rated = t.rated + EXCLUDED.rated,
            satisfied = t.satisfied + EXCLUDED.satisfied, closed_in = t.closed_in + EXCLUDED.closed_in
    )
    INSERT INTO case_open_due AS t (department_id, leader_id, month, day, n, host_id, organiser_id)
    SELECT d, l, m, dy, sum(s), h, o FROM k WHERE b = 'open' AND dy <> 'infinity'
    GROUP BY d, l, m, dy, h, o HAVING sum(s) <> 0 ORDER BY d, l, m, dy, h, o
    ON CONFLICT (department_id, leader_id, month, day, host_id, organiser_id) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER visits_rekey_case_tallies AFTER UPDATE OF county_id, organiser_id ON visits
    FOR EACH ROW WHEN (OLD.county_id IS DISTINCT FROM NEW.county_id OR OLD.organiser_id IS DISTINCT FROM NEW.organiser_id)
    EXECUTE FUNCTION visits_rekey_case_tallies();

INSERT INTO case_month_tallies SELECT * FROM case_tallies_direct_month;
INSERT INTO case_open_due SELECT * FROM case_open_due_direct;

