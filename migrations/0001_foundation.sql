-- Foundation: reference data, accounts, sessions, audit, calendar.
-- The application connects through the role xiafang_app (see src/db/mod.rs);
-- grants are (re)applied after every migration run, so tables here need none.

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE counties (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 50),
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{6}$'),   -- GB/T 2260 administrative code
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE departments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 60),
    short_name  text NOT NULL CHECK (length(short_name) BETWEEN 1 AND 20),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE categories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id   bigint REFERENCES categories(id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    sort_order  integer NOT NULL DEFAULT 0,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (parent_id, name)
);
-- Two levels only: a child's parent must itself be top-level (checked by trigger, CHECK cannot look at other rows).
CREATE FUNCTION categories_two_levels() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL AND EXISTS (SELECT 1 FROM categories WHERE id = NEW.parent_id AND parent_id IS NOT NULL) THEN
        RAISE EXCEPTION 'categories have two levels only' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER categories_two_levels BEFORE INSERT OR UPDATE ON categories
    FOR EACH ROW EXECUTE FUNCTION categories_two_levels();

-- Default departments competent for a category.
CREATE TABLE category_departments (
    category_id   bigint NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    department_id bigint NOT NULL REFERENCES departments(id),
    PRIMARY KEY (category_id, department_id)
);

CREATE TABLE leaders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 30),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 60),       -- 职务
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'township')),
    portfolio   text NOT NULL DEFAULT '' CHECK (length(portfolio) <= 500),  -- 分管范围
    county_id   bigint REFERENCES counties(id),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE leader_categories (
    leader_id   bigint NOT NULL REFERENCES leaders(id) ON DELETE CASCADE,
    category_id bigint NOT NULL REFERENCES categories(id),
    PRIMARY KEY (leader_id, category_id)
);

CREATE TABLE users (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username             text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.-]{3,32}$'),
    display_name         text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 30),
    role                 text NOT NULL CHECK (role IN ('staff', 'leader', 'handler', 'supervisor', 'sysadmin', 'auditor')),
    department_id        bigint REFERENCES departments(id),
    leader_id            bigint REFERENCES leaders(id),
    password_hash        text NOT NULL,
    failed_logins        integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until         timestamptz,
    password_changed_at  timestamptz NOT NULL DEFAULT now(),
    must_change_password boolean NOT NULL DEFAULT true,
    active               boolean NOT NULL DEFAULT true,
    is_demo              boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- a handler belongs to exactly one department, a leader account to one leader; nobody else has either link
    CHECK ((role = 'handler') = (department_id IS NOT NULL)),
    CHECK ((role = 'leader') = (leader_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_one_account_per_leader ON users (leader_id) WHERE leader_id IS NOT NULL AND active;

-- Server-side sessions: any instance serves any request. Only a hash of the cookie value is stored.
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    ip           inet,
    user_agent   text CHECK (length(user_agent) <= 300)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Bearer tokens for the JSON API; they carry the owner's role.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Append-only: the application role may only INSERT and SELECT (see the grants in src/db/mod.rs).
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint REFERENCES users(id),
    actor_name  text NOT NULL,          -- kept as typed: a failed login has no user row
    role        text,
    ip          inet,
    action      text NOT NULL CHECK (action ~ '^[a-z_.]+$'),
    object_type text,
    object_id   text,
    success     boolean NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC);

-- Working-day exceptions to the weekend rule: holidays (is_workday = false) and 调休 Saturdays/Sundays (true).
CREATE TABLE calendar_days (
    day         date PRIMARY KEY,
    is_workday  boolean NOT NULL,
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 40),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER counties_updated_at BEFORE UPDATE ON counties FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER departments_updated_at BEFORE UPDATE ON departments FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER categories_updated_at BEFORE UPDATE ON categories FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER leaders_updated_at BEFORE UPDATE ON leaders FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER calendar_days_updated_at BEFORE UPDATE ON calendar_days FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Statutory classes × subject areas (DESIGN §3), editable at /admin/categories.
INSERT INTO categories (name, sort_order) VALUES ('建议意见类', 1), ('检举控告类', 2), ('申诉求决类', 3);
INSERT INTO categories (parent_id, name, sort_order)
SELECT p.id, s.name, s.ord
FROM categories p
CROSS JOIN (VALUES ('城乡建设', 1), ('征地拆迁', 2), ('劳动社保', 3), ('农业农村', 4),
                   ('生态环境', 5), ('教育医疗', 6), ('涉法涉诉', 7), ('其他', 8)) AS s(name, ord)
WHERE p.parent_id IS NULL;
