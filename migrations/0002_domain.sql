-- Domain model (DESIGN §3): visits and notices, rooms and windows, registrations and screening,
-- survey items, receptions and issues, cases with their events, feedback, reviews, handovers;
-- then the plumbing that lets stateless instances share work: outbox, jobs, one-time form
-- tokens, idempotency keys, rate-limit counters.
--
-- Conventions (as in 0001): English snake_case, bigint identity keys, text + CHECK for every
-- status/kind value, NOT NULL where a value is always known, optional free text is
-- NOT NULL DEFAULT '' with a length cap. Constraints the application maps to user messages have
-- explicit names. Cross-row workflow rules (a visit is announced only after its first notice,
-- the case state machine, working-day deadlines) are the application's; the database holds what
-- a single row, a key or a cheap trigger can guarantee, so that no bug or race can break it.
--
-- "Same visit" consistency: rooms, windows, registrations, survey items, receptions and issues
-- expose UNIQUE (visit_id, id) so that children reference them with a composite foreign key;
-- a registration can then never sit in another visit's room or window.
--
-- Raised errors use SQLSTATE 23514 (check_violation) with a CONSTRAINT name, like a CHECK does.

-- ---------------------------------------------------------------------------------------------
-- Stage 1: visits, notices, rooms, windows
-- ---------------------------------------------------------------------------------------------

CREATE TABLE visits (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    county_id              bigint NOT NULL REFERENCES counties(id),
    title                  text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    level                  text NOT NULL CHECK (level IN ('province', 'city', 'county', 'township')),
    lead_leader_id         bigint NOT NULL REFERENCES leaders(id),
    visit_date             date NOT NULL,
    -- local (Asia/Shanghai) times of the day; combined with visit_date by the application
    starts_at              time NOT NULL DEFAULT '08:00',
    ends_at                time NOT NULL DEFAULT '17:00',
    venue                  text NOT NULL CHECK (length(venue) BETWEEN 1 AND 100),
    address                text NOT NULL DEFAULT '' CHECK (length(address) <= 200),
    area_served            text NOT NULL DEFAULT '' CHECK (length(area_served) <= 200),
    scope                  text NOT NULL DEFAULT '' CHECK (length(scope) <= 2000),        -- 受理范围
    slot_minutes           integer NOT NULL DEFAULT 15 CHECK (slot_minutes BETWEEN 5 AND 120),
    -- NULL: the configured default (17:00 Asia/Shanghai the day before); an explicit close must
    -- fall before the day starts (walk-ins on the day do not depend on it)
    registration_closes_at timestamptz,
    deadline_days          integer NOT NULL DEFAULT 60 CHECK (deadline_days BETWEEN 1 AND 60),  -- 限期 for its cases
    status                 text NOT NULL DEFAULT 'draft' CHECK (status IN
                               ('draft', 'announced', 'closed_for_registration', 'in_progress',
                                'following_up', 'archived', 'cancelled')),
    created_by             bigint NOT NULL REFERENCES users(id),
    is_demo                boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT visits_ends_after_starts CHECK (ends_at > starts_at),
    CONSTRAINT visits_registration_closes_before_day CHECK (
        registration_closes_at IS NULL
        OR registration_closes_at <= (visit_date + starts_at) AT TIME ZONE 'Asia/Shanghai')
);
CREATE INDEX visits_date_idx ON visits (visit_date);
CREATE INDEX visits_county_date_idx ON visits (county_id, visit_date);
CREATE INDEX visits_lead_leader_idx ON visits (lead_leader_id, visit_date);   -- cadence compliance

-- Accompanying leaders (陪同领导); the lead leader is visits.lead_leader_id.
CREATE TABLE visit_leaders (
    visit_id  bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    leader_id bigint NOT NULL REFERENCES leaders(id),
    PRIMARY KEY (visit_id, leader_id)
);
CREATE INDEX visit_leaders_leader_idx ON visit_leaders (leader_id);

-- Departments attending (参加部门).
CREATE TABLE visit_departments (
    visit_id      bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    department_id bigint NOT NULL REFERENCES departments(id),
    PRIMARY KEY (visit_id, department_id)
);
CREATE INDEX visit_departments_department_idx ON visit_departments (department_id);

-- 公告. Published notices are public record: immutable and undeletable (trigger below);
-- a change is a new notice of kind correction linked to the one it corrects.
CREATE TABLE notices (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id           bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    kind               text NOT NULL CHECK (kind IN ('first', 'second', 'correction', 'cancellation')),
    corrects_notice_id bigint,
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    body               text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    channels           text[] NOT NULL DEFAULT '{}',
    planned_date       date NOT NULL,      -- when it is due to go out (first: ≥ 10 days before, second: ≥ 3)
    -- set: publish automatically on planned_date (background job), in this user's name
    scheduled_by       bigint REFERENCES users(id),
    status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    published_at       timestamptz,
    published_by       bigint REFERENCES users(id),
    created_by         bigint NOT NULL REFERENCES users(id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (visit_id, id),
    -- the corrected notice belongs to the same visit
    FOREIGN KEY (visit_id, corrects_notice_id) REFERENCES notices (visit_id, id),
    CONSTRAINT notices_correction_link CHECK (
        CASE kind
            WHEN 'correction'   THEN corrects_notice_id IS NOT NULL
            WHEN 'cancellation' THEN true        -- may point at the notice it withdraws
            ELSE corrects_notice_id IS NULL
        END),
    CONSTRAINT notices_not_self_correcting CHECK (corrects_notice_id <> id),
    -- NULL elements never match in <@, so this also refuses NULLs
    CONSTRAINT notices_channels_known CHECK (
        channels <@ ARRAY['广播', '电视', '报纸', '政府网站', '微信公众号', '村务公开栏']::text[]),
    CONSTRAINT notices_published_has_channel CHECK (status = 'draft' OR cardinality(channels) >= 1),
    CONSTRAINT notices_published_at_by CHECK (
        (status = 'published') = (published_at IS NOT NULL)
        AND (status = 'published') = (published_by IS NOT NULL))
);
-- One published first, one published second (and one published cancellation) per visit.
-- Drafts are not limited: a draft may be rewritten or discarded before publication.
CREATE UNIQUE INDEX notices_one_published_per_kind ON notices (visit_id, kind)
    WHERE status = 'published' AND kind IN ('first', 'second', 'cancellation');
CREATE INDEX notices_published_idx ON notices (published_at DESC) WHERE status = 'published';   -- home page
CREATE INDEX notices_due_idx ON notices (planned_date) WHERE status = 'draft' AND scheduled_by IS NOT NULL;
CREATE INDEX notices_corrects_idx ON notices (corrects_notice_id) WHERE corrects_notice_id IS NOT NULL;

-- A published notice may not change (only draft → published, with its last edits, is an update
-- of a draft) nor be deleted. The comparison covers every column but updated_at, so columns added
-- later are protected too. TRUNCATE (test resets) is not a row operation and is not affected.
CREATE FUNCTION notices_published_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'published' THEN
            RAISE EXCEPTION 'notice % is published and cannot be deleted', OLD.id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'notices_published_immutable';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'published'
       AND (to_jsonb(NEW) - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'updated_at') THEN
        RAISE EXCEPTION 'notice % is published and cannot be changed; publish a correction notice', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'notices_published_immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER notices_published_immutable BEFORE UPDATE OR DELETE ON notices
    FOR EACH ROW EXECUTE FUNCTION notices_published_immutable();

-- 接待室.
CREATE TABLE rooms (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id    bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 30),
    location    text NOT NULL DEFAULT '' CHECK (length(location) <= 100),
    sort_order  integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (visit_id, name),
    UNIQUE (visit_id, id)
);

-- Who sits in a room, and what it is competent for (drives scheduling and "own rooms" access).
CREATE TABLE room_leaders (
    room_id   bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    leader_id bigint NOT NULL REFERENCES leaders(id),
    PRIMARY KEY (room_id, leader_id)
);
CREATE INDEX room_leaders_leader_idx ON room_leaders (leader_id);   -- /me/today

CREATE TABLE room_departments (
    room_id       bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    department_id bigint NOT NULL REFERENCES departments(id),
    PRIMARY KEY (room_id, department_id)
);

CREATE TABLE room_categories (
    room_id     bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    category_id bigint NOT NULL REFERENCES categories(id),
    PRIMARY KEY (room_id, category_id)
);

-- 接访时段. booked_slots is a counter kept by the application in the same transaction as the
-- registration (UPDATE … SET booked_slots = booked_slots + $slots): the row lock serialises
-- concurrent bookings and the CHECK refuses the one that would overbook (23514,
-- reception_windows_not_overbooked → "full, waiting list?"). Slots are held by registrations in
-- status submitted, confirmed, scheduled, checked_in, called, received, no_show; rejection,
-- cancellation and waitlisting hold none.
CREATE TABLE reception_windows (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id       bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    capacity_slots integer NOT NULL CHECK (capacity_slots >= 0),
    booked_slots   integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (visit_id, starts_at),
    UNIQUE (visit_id, id),
    CONSTRAINT reception_windows_ends_after_starts CHECK (ends_at > starts_at),
    CONSTRAINT reception_windows_not_overbooked CHECK (booked_slots BETWEEN 0 AND capacity_slots)
);

-- 访前调查: an issue found village by village before the day; its text fields are the dossier
-- (一事一档). A registration links to it (registrations.survey_item_id); a 带案下访 item may
-- become a case directly (cases.survey_item_id).
CREATE TABLE survey_items (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id          bigint NOT NULL REFERENCES visits(id),
    township          text NOT NULL CHECK (length(township) BETWEEN 1 AND 30),
    village           text NOT NULL DEFAULT '' CHECK (length(village) <= 30),
    reporter          text NOT NULL DEFAULT '' CHECK (length(reporter) <= 60),   -- who reported it
    category_id       bigint NOT NULL REFERENCES categories(id),
    summary           text NOT NULL CHECK (length(summary) BETWEEN 1 AND 500),
    background        text NOT NULL DEFAULT '' CHECK (length(background) <= 5000),
    policy_basis      text NOT NULL DEFAULT '' CHECK (length(policy_basis) <= 5000),
    proposed_handling text NOT NULL DEFAULT '' CHECK (length(proposed_handling) <= 5000),
    brought_by_leader boolean NOT NULL DEFAULT false,                           -- 带案下访
    created_by        bigint NOT NULL REFERENCES users(id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (visit_id, id)
);

-- ---------------------------------------------------------------------------------------------
-- Registrations and screening
-- ---------------------------------------------------------------------------------------------

-- 来访登记. Personal numbers (DESIGN §7): ciphertext (AES-256-GCM, random nonce) + the id of the
-- key that made it, an HMAC-SHA-256 blind index (separate key) for matching, and the display mask.
-- The mask is stored rather than derived, so lists never decrypt; its format keeps the birth
-- date (digits 7–14 of the ID) out by construction. The lookup's "last 4 digits of the phone"
-- are the mask's last 4.
CREATE TABLE registrations (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id               bigint NOT NULL REFERENCES visits(id),
    code                   text NOT NULL,
    channel                text NOT NULL CHECK (channel IN ('online', 'phone', 'survey', 'walk_in')),
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    id_number_cipher       bytea NOT NULL CHECK (length(id_number_cipher) > 28),   -- ≥ 12 nonce + 16 tag + data
    id_number_key_id       smallint NOT NULL CHECK (id_number_key_id >= 0),
    id_number_index        bytea NOT NULL CHECK (length(id_number_index) = 32),
    id_number_mask         text NOT NULL CHECK (id_number_mask ~ '^[0-9]{3}\*{11}[0-9]{3}[0-9X]$'),
    phone_cipher           bytea CHECK (length(phone_cipher) > 28),
    phone_key_id           smallint CHECK (phone_key_id >= 0),
    phone_index            bytea CHECK (length(phone_index) = 32),
    phone_mask             text CHECK (phone_mask ~ '^[0-9]{3}\*{3,8}[0-9]{4}$'),        -- 138****5678
    address                text NOT NULL DEFAULT '' CHECK (length(address) <= 200),
    township               text NOT NULL DEFAULT '' CHECK (length(township) <= 30),
    village                text NOT NULL DEFAULT '' CHECK (length(village) <= 30),
    persons                integer NOT NULL DEFAULT 1 CHECK (persons BETWEEN 1 AND 200),
    representatives        text[] NOT NULL DEFAULT '{}',
    category_id            bigint NOT NULL REFERENCES categories(id),
    grievance              text NOT NULL CHECK (length(grievance) BETWEEN 1 AND 2000),
    window_id              bigint,
    slots                  smallint NOT NULL DEFAULT 1,
    status                 text NOT NULL DEFAULT 'submitted' CHECK (status IN
                               ('submitted', 'confirmed', 'rejected', 'waitlisted', 'scheduled',
                                'checked_in', 'called', 'received', 'no_show', 'cancelled')),
    reject_reason          text CHECK (length(reject_reason) BETWEEN 1 AND 500),
    -- scheduling (排接): room + queue number + expected time, all or none
    room_id                bigint,
    queue_number           integer CHECK (queue_number > 0),
    expected_at            timestamptz,
    -- pinned by staff: the automatic scheduler leaves this assignment alone (our "schedule lock";
    -- concurrent scheduler runs of one visit are serialised with pg_advisory_xact_lock instead)
    schedule_locked        boolean NOT NULL DEFAULT false,
    checked_in_at          timestamptz,
    called_at              timestamptz,
    consent_at             timestamptz NOT NULL,           -- 个人信息处理告知 accepted
    survey_item_id         bigint UNIQUE,                  -- the survey item (dossier) it came from or was linked to
    -- SHA-256 of the browser session that submitted it: only that session sees the receipt page
    submitted_session_hash bytea CHECK (length(submitted_session_hash) = 32),
    merged_into_id         bigint,                         -- duplicate merged into another registration
    created_by             bigint REFERENCES users(id),    -- NULL: the citizen, online
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (visit_id, id),
    UNIQUE (id, window_id),                                 -- target of waitlist's composite key
    FOREIGN KEY (visit_id, window_id) REFERENCES reception_windows (visit_id, id),
    FOREIGN KEY (visit_id, room_id) REFERENCES rooms (visit_id, id),
    FOREIGN KEY (visit_id, survey_item_id) REFERENCES survey_items (visit_id, id),
    FOREIGN KEY (visit_id, merged_into_id) REFERENCES registrations (visit_id, id),
    -- random, unambiguous alphabet (no 0/O, 1/I/L): DESIGN §7
    CONSTRAINT registrations_code_format CHECK (code ~ '^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8,12}$'),
    CONSTRAINT registrations_code_key UNIQUE (code),
    CONSTRAINT registrations_phone_complete CHECK (num_nulls(phone_cipher, phone_key_id, phone_index, phone_mask) IN (0, 4)),
    -- the citizen's lookup needs the phone; staff may register a walk-in or survey case without one
    CONSTRAINT registrations_phone_required CHECK (channel NOT IN ('online', 'phone') OR phone_cipher IS NOT NULL),
    -- 信访工作条例: more than 5 persons choose representatives, at most 5
    CONSTRAINT registrations_representatives_count CHECK (cardinality(representatives) <= 5),
    CONSTRAINT registrations_representatives_required CHECK (persons <= 5 OR cardinality(representatives) >= 1),
    CONSTRAINT registrations_representatives_no_nulls CHECK (array_position(representatives, NULL) IS NULL),
    -- a batch of more than 5 persons takes two slots
    CONSTRAINT registrations_slots CHECK (slots IN (1, 2) AND (slots = 2) = (persons > 5)),
    CONSTRAINT registrations_window_required CHECK (channel <> 'online' OR window_id IS NOT NULL),
    CONSTRAINT registrations_waitlisted_window CHECK (status <> 'waitlisted' OR window_id IS NOT NULL),
    CONSTRAINT registrations_reject_reason CHECK (status <> 'rejected' OR reject_reason IS NOT NULL),
    CONSTRAINT registrations_schedule_complete CHECK (num_nulls(room_id, queue_number, expected_at) IN (0, 3)),
    CONSTRAINT registrations_scheduled_has_room CHECK (
        status NOT IN ('scheduled', 'checked_in', 'called', 'received', 'no_show') OR room_id IS NOT NULL),
    CONSTRAINT registrations_lock_needs_room CHECK (NOT schedule_locked OR room_id IS NOT NULL),
    CONSTRAINT registrations_checked_in_at CHECK (
        status NOT IN ('checked_in', 'called', 'received') OR checked_in_at IS NOT NULL),
    CONSTRAINT registrations_called_at CHECK (status <> 'called' OR called_at IS NOT NULL),
    CONSTRAINT registrations_survey_link CHECK (channel <> 'survey' OR survey_item_id IS NOT NULL),
    CONSTRAINT registrations_staff_channels CHECK (channel = 'online' OR created_by IS NOT NULL),
    CONSTRAINT registrations_merged_inactive CHECK (
        merged_into_id IS NULL OR (merged_into_id <> id AND status IN ('cancelled', 'rejected'))),
    -- queue numbers are unique per room; deferred so the scheduler can renumber in one transaction
    -- (a clash is then reported at COMMIT, or earlier after SET CONSTRAINTS … IMMEDIATE)
    CONSTRAINT registrations_room_queue_key UNIQUE (room_id, queue_number) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX registrations_visit_status_idx ON registrations (visit_id, status);
CREATE INDEX registrations_visit_window_idx ON registrations (visit_id, window_id);
-- screening: same ID in this visit / in the last 2 months
CREATE INDEX registrations_id_number_idx ON registrations (id_number_index, created_at);
CREATE INDEX registrations_phone_idx ON registrations (phone_index) WHERE phone_index IS NOT NULL;
CREATE INDEX registrations_merged_into_idx ON registrations (merged_into_id) WHERE merged_into_id IS NOT NULL;

-- 候补: one entry per waitlisted registration, served in (created_at, id) order. The composite
-- key keeps window_id equal to the registration's window. promoted_at is set when it gets a
-- slot; the application deletes the entry when a waitlisted registration is cancelled.
CREATE TABLE waitlist (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    registration_id bigint NOT NULL UNIQUE,
    window_id       bigint NOT NULL REFERENCES reception_windows(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    promoted_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (registration_id, window_id) REFERENCES registrations (id, window_id)
        ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX waitlist_queue_idx ON waitlist (window_id, created_at, id) WHERE promoted_at IS NULL;

-- ---------------------------------------------------------------------------------------------
-- Stage 2: receptions and issues
-- ---------------------------------------------------------------------------------------------

-- 接谈记录: one per received registration (transfers happen before it starts).
CREATE TABLE receptions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id        bigint NOT NULL REFERENCES visits(id),
    registration_id bigint NOT NULL UNIQUE,
    room_id         bigint NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,                      -- NULL while the batch is at the table
    statement       text NOT NULL DEFAULT '' CHECK (length(statement) <= 10000),     -- what was said
    consultation    text NOT NULL DEFAULT '' CHECK (length(consultation) <= 5000),   -- 会商意见
    recorded_by     bigint NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (visit_id, id),
    FOREIGN KEY (visit_id, registration_id) REFERENCES registrations (visit_id, id),
    FOREIGN KEY (visit_id, room_id) REFERENCES rooms (visit_id, id),
    CONSTRAINT receptions_ends_after_start CHECK (ended_at >= started_at)
);
CREATE INDEX receptions_room_idx ON receptions (room_id, started_at);

-- Leaders who received the batch.
CREATE TABLE reception_leaders (
    reception_id bigint NOT NULL REFERENCES receptions(id) ON DELETE CASCADE,
    leader_id    bigint NOT NULL REFERENCES leaders(id),
    PRIMARY KEY (reception_id, leader_id)
);
CREATE INDEX reception_leaders_leader_idx ON reception_leaders (leader_id);

-- 诉求事项: each issue raised in a reception has its own outcome ("resolved on the spot" counts
-- issues). visit_id is carried so per-visit counts need no join and cases can check their visit.
CREATE TABLE issues (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    visit_id            bigint NOT NULL,
    reception_id        bigint NOT NULL,
    category_id         bigint NOT NULL REFERENCES categories(id),
    summary             text NOT NULL CHECK (length(summary) BETWEEN 1 AND 500),
    outcome             text NOT NULL CHECK (outcome IN
                            ('resolved_on_spot', 'assigned', 'explained', 'legal_channel', 'not_accepted')),
    outcome_note        text NOT NULL DEFAULT '' CHECK (length(outcome_note) <= 2000),
    not_accepted_reason text CHECK (length(not_accepted_reason) BETWEEN 1 AND 500),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (visit_id, id),
    FOREIGN KEY (visit_id, reception_id) REFERENCES receptions (visit_id, id) ON DELETE CASCADE,
    CONSTRAINT issues_not_accepted_reason CHECK (outcome <> 'not_accepted' OR not_accepted_reason IS NOT NULL)
);
CREATE INDEX issues_reception_idx ON issues (reception_id);
CREATE INDEX issues_visit_outcome_idx ON issues (visit_id, outcome);

-- ---------------------------------------------------------------------------------------------
-- Stage 3: cases
-- ---------------------------------------------------------------------------------------------

-- 交办件. Open states (the deadline clock runs): assigned, accepted, returned, closure_submitted.
-- Dates are Asia/Shanghai calendar dates computed by the application (working-day calendar).
-- A few values that also live in case_events are kept here for the dashboard over ~10^6 cases:
-- acceptance_notified_at (响应率), first_urged_at (通报), rating (满意率).
-- version: optimistic concurrency (UPDATE … WHERE id = $1 AND version = $2 → 0 rows = 409);
-- a trigger bumps it on every update, so no writer can forget it.
CREATE TABLE cases (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                   text NOT NULL CHECK (code ~ '^[0-9A-Z-]{6,32}$'),
    visit_id               bigint NOT NULL REFERENCES visits(id),
    issue_id               bigint UNIQUE,
    survey_item_id         bigint UNIQUE,
    title                  text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    category_id            bigint NOT NULL REFERENCES categories(id),
    lead_department_id     bigint NOT NULL REFERENCES departments(id),    -- 主办
    owner_leader_id        bigint NOT NULL REFERENCES leaders(id),        -- 包案领导
    deadline_days          integer NOT NULL CHECK (deadline_days BETWEEN 1 AND 60),
    assigned_at            timestamptz NOT NULL,
    assigned_by            bigint NOT NULL REFERENCES users(id),
    accept_due_on          date NOT NULL,          -- sign for or return by (5 wd after assignment)
    accepted_at            timestamptz,
    acceptance_notified_at timestamptz,            -- citizen told in writing (≤ 15 d)
    due_on                 date,                   -- set on acceptance: + deadline_days
    extension_days         integer CHECK (extension_days BETWEEN 1 AND 30),   -- one extension at most
    extended_due_on        date,
    effective_due_on       date GENERATED ALWAYS AS (COALESCE(extended_due_on, due_on)) STORED,
    status                 text NOT NULL DEFAULT 'assigned' CHECK (status IN
                               ('assigned', 'accepted', 'returned', 'closure_submitted', 'closed',
                                'rated', 'in_review', 'terminated')),
    result                 text CHECK (result IN ('resolved', 'partly', 'explained', 'unresolved')),
    reply                  text CHECK (length(reply) BETWEEN 1 AND 5000),      -- 答复意见
    closure_submitted_by   bigint REFERENCES users(id),
    closure_submitted_at   timestamptz,
    closed_by              bigint REFERENCES users(id),
    closed_at              timestamptz,
    rating                 text CHECK (rating IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    first_urged_at         timestamptz,            -- first 催办 or 督办; open 5 wd later → 通报
    version                integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cases_code_key UNIQUE (code),
    FOREIGN KEY (visit_id, issue_id) REFERENCES issues (visit_id, id),
    FOREIGN KEY (visit_id, survey_item_id) REFERENCES survey_items (visit_id, id),
    -- from one assigned issue or one survey item (带案下访), never both, never neither
    CONSTRAINT cases_one_source CHECK (num_nonnulls(issue_id, survey_item_id) = 1),
    CONSTRAINT cases_accepted_due CHECK ((accepted_at IS NULL) = (due_on IS NULL)),
    CONSTRAINT cases_accepted_states CHECK (
        status NOT IN ('accepted', 'closure_submitted', 'closed', 'rated') OR accepted_at IS NOT NULL),
    CONSTRAINT cases_extension CHECK (
        (extension_days IS NULL AND extended_due_on IS NULL)
        OR (due_on IS NOT NULL AND extended_due_on = due_on + extension_days)),
    CONSTRAINT cases_closure_submitted CHECK ((closure_submitted_by IS NULL) = (closure_submitted_at IS NULL)),
    CONSTRAINT cases_closed_by_at CHECK ((closed_by IS NULL) = (closed_at IS NULL)),
    -- the handler's result and written reply come with the submission
    CONSTRAINT cases_result_required CHECK (
        status NOT IN ('closure_submitted', 'closed', 'rated')
        OR (result IS NOT NULL AND reply IS NOT NULL AND closure_submitted_by IS NOT NULL)),
    CONSTRAINT cases_closed_required CHECK (status NOT IN ('closed', 'rated') OR closed_by IS NOT NULL),
    -- 双签字: the approver is not the submitter (on closure_rejected/reopened the application
    -- clears closed_by/closed_at; the history stays in case_events)
    CONSTRAINT cases_two_signers CHECK (closed_by <> closure_submitted_by),
    CONSTRAINT cases_rated_has_rating CHECK (status <> 'rated' OR rating IS NOT NULL)
);
CREATE INDEX cases_status_idx ON cases (status);
CREATE INDEX cases_department_status_idx ON cases (lead_department_id, status);
CREATE INDEX cases_owner_status_idx ON cases (owner_leader_id, status);
CREATE INDEX cases_visit_idx ON cases (visit_id);
-- task list / overdue / reminders: open cases by their due date (with any extension)
CREATE INDEX cases_open_due_idx ON cases (effective_due_on)
    WHERE status IN ('assigned', 'accepted', 'returned', 'closure_submitted');
CREATE INDEX cases_open_accept_due_idx ON cases (accept_due_on) WHERE status = 'assigned';
CREATE INDEX cases_open_urged_idx ON cases (first_urged_at)
    WHERE first_urged_at IS NOT NULL AND status IN ('assigned', 'accepted', 'returned', 'closure_submitted');

CREATE FUNCTION cases_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END $$;
CREATE TRIGGER cases_bump_version BEFORE UPDATE ON cases FOR EACH ROW EXECUTE FUNCTION cases_bump_version();

-- 协办 departments (the lead department is cases.lead_department_id); a handler of a co-department
-- sees the case too.
CREATE TABLE case_departments (
    case_id       bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    department_id bigint NOT NULL REFERENCES departments(id),
    role          text NOT NULL DEFAULT 'co' CHECK (role = 'co'),
    PRIMARY KEY (case_id, department_id)
);
CREATE INDEX case_departments_department_idx ON case_departments (department_id);

-- 办理记录: the case's history. Insert-only: an UPDATE is refused (trigger below); DELETE stays
-- possible only so that a case can be removed whole. actor_id is NULL only for what the system or
-- the citizen does (automatic reminders and urges, the citizen's rating or review request).
-- `at` (like feedback.at, handovers.at) has no default on purpose: it comes from the
-- application's injectable clock, and forgetting it should fail loudly.
CREATE TABLE case_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id    bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN
                   ('assigned', 'accepted', 'returned', 'progress', 'extension_requested',
                    'extension_approved', 'extension_refused', 'acceptance_notified',
                    'closure_submitted', 'closure_approved', 'closure_rejected', 'reminded',
                    'auto_urged', 'urged', 'rated', 'reopened', 'review_requested',
                    'review_decided', 'terminated', 'handed_over', 'reassigned')),
    actor_id   bigint REFERENCES users(id),
    at         timestamptz NOT NULL,
    text       text NOT NULL DEFAULT '' CHECK (length(text) <= 5000),
    data       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    CONSTRAINT case_events_actor CHECK (
        actor_id IS NOT NULL OR kind IN ('reminded', 'auto_urged', 'rated', 'review_requested'))
);
CREATE INDEX case_events_case_at_idx ON case_events (case_id, at);

CREATE FUNCTION case_events_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case events are history and cannot be changed'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'case_events_append_only';
END $$;
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_no_update();

-- 评价. Not unique per case: a reopened (重办) case is closed and rated again. The state machine
-- allows one rating per closure (closed → rated); the latest row is the case's rating, copied to
-- cases.rating. Insert-only.
CREATE TABLE feedback (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    rating      text NOT NULL CHECK (rating IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    comment     text NOT NULL DEFAULT '' CHECK (length(comment) <= 1000),
    channel     text NOT NULL CHECK (channel IN ('online', 'phone', 'visit')),   -- visit = 回访
    recorded_by bigint REFERENCES users(id),       -- NULL: the citizen online
    at          timestamptz NOT NULL,
    CONSTRAINT feedback_recorded_by CHECK (channel = 'online' OR recorded_by IS NOT NULL)
);
CREATE INDEX feedback_case_at_idx ON feedback (case_id, at);

-- 复查 (review) then 复核 (re_review), each at most once per case; an upheld re_review ends the
-- matter (终结: the case becomes terminated, and screening flags later petitions on it).
CREATE TABLE reviews (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('review', 're_review')),
    requested_at timestamptz NOT NULL,
    due_on       date NOT NULL,                   -- decision due (30 d)
    decided_at   timestamptz,
    result       text CHECK (result IN ('upheld', 'overturned')),   -- 维持 / 撤销或变更 (重办)
    text         text NOT NULL DEFAULT '' CHECK (length(text) <= 5000),
    recorded_by  bigint NOT NULL REFERENCES users(id),
    decided_by   bigint REFERENCES users(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, kind),
    CONSTRAINT reviews_decided CHECK (
        (decided_at IS NULL) = (result IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL))
);
CREATE INDEX reviews_open_due_idx ON reviews (due_on) WHERE decided_at IS NULL;

-- 离任交接: one recorded move of a leader's open cases to a successor; the list moved is kept.
CREATE TABLE handovers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_leader_id bigint NOT NULL REFERENCES leaders(id),
    to_leader_id   bigint NOT NULL REFERENCES leaders(id),
    performed_by   bigint NOT NULL REFERENCES users(id),
    at             timestamptz NOT NULL,
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    CONSTRAINT handovers_different_leaders CHECK (from_leader_id <> to_leader_id)
);
CREATE INDEX handovers_from_idx ON handovers (from_leader_id);
CREATE INDEX handovers_to_idx ON handovers (to_leader_id);

CREATE TABLE handover_cases (
    handover_id bigint NOT NULL REFERENCES handovers(id) ON DELETE CASCADE,
    case_id     bigint NOT NULL REFERENCES cases(id),
    PRIMARY KEY (handover_id, case_id)
);
CREATE INDEX handover_cases_case_idx ON handover_cases (case_id);

-- Triage flags (not refusals): staff confirm or override each; an override needs a note.
-- Created after cases because a flag may point at the open case that raised it.
CREATE TABLE screening_flags (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    registration_id         bigint NOT NULL REFERENCES registrations(id) ON DELETE CASCADE,
    kind                    text NOT NULL CHECK (kind IN
                                ('duplicate_in_visit', 'recent_or_open_case', 'legal_channel', 'review_terminated')),
    detail                  text NOT NULL DEFAULT '' CHECK (length(detail) <= 500),
    related_registration_id bigint REFERENCES registrations(id) ON DELETE SET NULL,
    related_case_id         bigint REFERENCES cases(id) ON DELETE SET NULL,
    decision                text NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'confirmed', 'overridden')),
    decided_by              bigint REFERENCES users(id),
    decided_at              timestamptz,
    note                    text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (registration_id, kind),
    CONSTRAINT screening_flags_decided CHECK (
        (decision = 'pending') = (decided_by IS NULL) AND (decision = 'pending') = (decided_at IS NULL)),
    CONSTRAINT screening_flags_override_note CHECK (decision <> 'overridden' OR length(note) >= 1)
);
CREATE INDEX screening_flags_pending_idx ON screening_flags (registration_id) WHERE decision = 'pending';

-- ---------------------------------------------------------------------------------------------
-- Shared plumbing for stateless instances
-- ---------------------------------------------------------------------------------------------

-- Outbox. No clear phone number or address here: the recipient is a reference (a registration,
-- whose phone is decrypted by the sender at delivery time, or a user), plus a mask for display
-- and logs. The outbox is browsed by staff and written to the log by the default sender, so a
-- clear copy would leak what §7 keeps encrypted; a reference also follows key rotation and a
-- later anonymisation (a pending message to an anonymised registration simply fails).
-- body is the rendered text and must not contain full ID or phone numbers.
-- Claiming: SELECT … WHERE status = 'pending' AND next_attempt_at <= now() FOR UPDATE SKIP
-- LOCKED, then push next_attempt_at forward as a lease before sending outside the transaction.
-- A failed attempt stays pending (attempts + 1, later next_attempt_at, last_error); 'failed' is
-- terminal, after the last attempt.
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         text NOT NULL CHECK (channel IN ('sms', 'email', 'log')),
    registration_id bigint REFERENCES registrations(id) ON DELETE CASCADE,
    user_id         bigint REFERENCES users(id) ON DELETE CASCADE,
    recipient_mask  text NOT NULL CHECK (length(recipient_mask) BETWEEN 1 AND 100),
    kind            text NOT NULL CHECK (kind ~ '^[a-z_.]{1,60}$'),      -- template name
    params          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text CHECK (length(last_error) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_one_recipient CHECK (num_nonnulls(registration_id, user_id) = 1),
    CONSTRAINT notifications_sent_at CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX notifications_pending_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_registration_idx ON notifications (registration_id) WHERE registration_id IS NOT NULL;
CREATE INDEX notifications_user_idx ON notifications (user_id) WHERE user_id IS NOT NULL;

-- Background jobs, claimed with FOR UPDATE SKIP LOCKED and a lease (claimed_until) so that each
-- runs once across instances. (kind, key) dedupes: the same reminder is never queued twice; a
-- key that must recur carries what distinguishes it (e.g. 'case:42:due:2026-05-01:7d').
-- As for notifications, a failed run stays pending with a later run_at; 'failed' is terminal.
CREATE TABLE jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind ~ '^[a-z_.]{1,60}$'),
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    run_at        timestamptz NOT NULL,
    claimed_until timestamptz,
    claimed_by    text CHECK (length(claimed_by) <= 100),             -- instance id
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    last_error    text CHECK (length(last_error) <= 2000),
    payload       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    finished_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_kind_key UNIQUE (kind, key),
    CONSTRAINT jobs_claim CHECK ((claimed_until IS NULL) = (claimed_by IS NULL)),
    CONSTRAINT jobs_finished CHECK ((status = 'pending') = (finished_at IS NULL))
);
CREATE INDEX jobs_pending_idx ON jobs (run_at) WHERE status = 'pending';

-- One-time tokens of the anonymous registration form (only a hash is stored). The first POST
-- marks it used and records its registration; a double submit finds the row and shows the same
-- receipt. Written once, so no updated_at. Purged by created_at.
CREATE TABLE form_tokens (
    token_hash      bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    visit_id        bigint NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    used_at         timestamptz,
    registration_id bigint REFERENCES registrations(id) ON DELETE SET NULL,
    CONSTRAINT form_tokens_used CHECK (registration_id IS NULL OR used_at IS NOT NULL)
);
CREATE INDEX form_tokens_created_idx ON form_tokens (created_at);

-- Idempotency-Key of the API's registration create, stored in the registration's transaction
-- (a concurrent retry waits on the key, then replays). scope is the caller ('' anonymous,
-- 'token:<id>' for a bearer token); request_hash (SHA-256 of the body) makes a reused key with a
-- different body a 422 instead of replaying someone else's receipt. Insert-only; purged by created_at.
CREATE TABLE idempotency_keys (
    scope           text NOT NULL DEFAULT '' CHECK (length(scope) <= 60),
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    bytea NOT NULL CHECK (length(request_hash) = 32),
    registration_id bigint REFERENCES registrations(id) ON DELETE SET NULL,
    status_code     smallint NOT NULL CHECK (status_code BETWEEN 100 AND 599),
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Rate-limit counters that must hold across instances (INSERT … ON CONFLICT DO UPDATE SET
-- count = count + 1 RETURNING count). UNLOGGED: losing counters in a crash is harmless and it
-- spares the WAL on every anonymous request. window_start is its only timestamp (no updated_at);
-- old windows are purged by window_start.
CREATE UNLOGGED TABLE rate_limits (
    bucket       text NOT NULL CHECK (length(bucket) BETWEEN 1 AND 200),
    window_start timestamptz NOT NULL,
    count        integer NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);

-- ---------------------------------------------------------------------------------------------
-- updated_at on every mutable table
-- ---------------------------------------------------------------------------------------------
CREATE TRIGGER visits_updated_at BEFORE UPDATE ON visits FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER notices_updated_at BEFORE UPDATE ON notices FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER rooms_updated_at BEFORE UPDATE ON rooms FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER reception_windows_updated_at BEFORE UPDATE ON reception_windows FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER survey_items_updated_at BEFORE UPDATE ON survey_items FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER registrations_updated_at BEFORE UPDATE ON registrations FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER waitlist_updated_at BEFORE UPDATE ON waitlist FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER receptions_updated_at BEFORE UPDATE ON receptions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER issues_updated_at BEFORE UPDATE ON issues FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER cases_updated_at BEFORE UPDATE ON cases FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER reviews_updated_at BEFORE UPDATE ON reviews FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER screening_flags_updated_at BEFORE UPDATE ON screening_flags FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER notifications_updated_at BEFORE UPDATE ON notifications FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER jobs_updated_at BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION set_updated_at();
