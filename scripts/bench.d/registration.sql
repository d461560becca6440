-- pgbench: a citizen's registration replayed statement for statement, both of its POSTs: 获取验证码
-- (src/public/pages/register.rs submit → prepare::registration_view::send_code →
-- prepare::phone_code::request), then the form with the code (→ registration_view::handle →
-- prepare::booking::submit, which redeems the code), the same SQL with values varied per
-- transaction as the app varies them. One pgbench transaction is one citizen. It is the database's
-- ceiling for that workload: no HTTP, no validation, no encryption (ciphertexts are stand-ins of the right size, see the INSERT). Variables from
-- scripts/bench: visit, window_first (9 consecutive windows), category.
-- The form token is stored when used, as the app does (src/prepare/booking/claims.rs; its signature is
-- checked in Rust); a token drawn twice is then already used (0 rows), which only makes this ceiling
-- a little higher. Parameters carry casts so that `-M prepared` can type them.
\set n random(1, 1000000)
\set w random(:window_first, :window_first + 8)
\set a random(0, 255)
\set b random(0, 255)
\set c random(1, 254)
-- ---- 1. 获取验证码: the form POST's per-IP counter, the form again, the code's transaction ----
-- (A colon before a name in a literal would be a pgbench variable: the buckets' colons stand alone.)
INSERT INTO rate_limits (bucket, window_start, count) VALUES ('register:10.' || (:a)::int || '.' || (:b)::int || '.' || (:c)::int, date_trunc('minute', now()), 1)
  ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count;
SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.address, v.status, v.registration_closes_at,
       (SELECT min(n.published_at) FROM notices n WHERE n.visit_id = v.id AND n.kind = 'first' AND n.status = 'published') AS first_notice_at
  FROM visits v WHERE v.id = (:visit)::bigint;
BEGIN;
SAVEPOINT phone_code;
INSERT INTO rate_limits (bucket, window_start, window_seconds, count)
  VALUES ('phone_code' || ':' || 'ip' || ':' || '10.' || (:a)::int || '.' || (:b)::int || '.' || (:c)::int, date_trunc('hour', now()), 3600, 1)
  ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count;
INSERT INTO rate_limits (bucket, window_start, window_seconds, count)
  VALUES ('phone_code' || ':' || 'phone' || ':' || encode(sha256(convert_to('ph-' || (:n)::int, 'UTF8')), 'hex'),
          date_trunc('day', now() + interval '8 hours') - interval '8 hours', 86400, 1)
  ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count;
SELECT max(created_at) FROM phone_codes WHERE phone_index = sha256(convert_to('ph-' || (:n)::int, 'UTF8'));
INSERT INTO rate_limits (bucket, window_start, window_seconds, count) VALUES ('phone_code', date_trunc('hour', now()), 3600, 1)
  ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count;
SELECT nextval(pg_get_serial_sequence('phone_codes', 'id')) AS phone_code_id \gset
-- The phone sealed (format byte + 12 nonce + 11 digits + 16 tag: 40 bytes) and the code's MAC:
-- stand-ins of the right size, as below.
INSERT INTO phone_codes (id, phone_cipher, phone_key_id, phone_index, phone_mask, code_hash, created_at, expires_at)
  OVERRIDING SYSTEM VALUE
  VALUES ((:phone_code_id)::bigint, substr(sha512(convert_to('pc-' || (:n)::int, 'UTF8')), 1, 40), 1,
          sha256(convert_to('ph-' || (:n)::int, 'UTF8')), '138****5678', sha256(convert_to('code-' || (:n)::int, 'UTF8')),
          now(), now() + interval '5 minutes');
INSERT INTO notifications (channel, registration_id, user_id, phone_code_id, recipient_mask, kind, params, body)
  VALUES ('sms', NULL, NULL, (:phone_code_id)::bigint, '138****5678', 'phone.code', jsonb_build_object('code', '123456'),
          '您的来访登记验证码为 123456，5 分钟内有效。请勿告诉他人。')
  RETURNING id;
RELEASE SAVEPOINT phone_code;
COMMIT;
SELECT c.id, c.name, p.name AS parent, (c.active AND p.active) AS active
  FROM categories c JOIN categories p ON p.id = c.parent_id
  WHERE (c.active AND p.active) OR c.id = ANY('{}'::bigint[])
  ORDER BY p.sort_order, p.name, c.sort_order, c.name;
SELECT id, starts_at, ends_at, capacity_slots, booked_slots FROM reception_windows WHERE visit_id = (:visit)::bigint ORDER BY starts_at;
-- ---- 2. the form with the code ----
INSERT INTO rate_limits (bucket, window_start, count) VALUES ('register:10.' || (:a)::int || '.' || (:b)::int || '.' || (:c)::int, date_trunc('minute', now()), 1)
  ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count;
SELECT v.id, v.title, v.visit_date, v.starts_at, v.ends_at, v.venue, v.address, v.status, v.registration_closes_at,
       (SELECT min(n.published_at) FROM notices n WHERE n.visit_id = v.id AND n.kind = 'first' AND n.status = 'published') AS first_notice_at
  FROM visits v WHERE v.id = (:visit)::bigint;
SELECT c.id, c.name, p.name AS parent, (c.active AND p.active) AS active
  FROM categories c JOIN categories p ON p.id = c.parent_id
  WHERE (c.active AND p.active) OR c.id = ANY('{}'::bigint[])
  ORDER BY p.sort_order, p.name, c.sort_order, c.name;
SELECT id, starts_at, ends_at, capacity_slots, booked_slots FROM reception_windows WHERE visit_id = (:visit)::bigint ORDER BY starts_at;
BEGIN;
INSERT INTO form_tokens (token_hash, visit_id, created_at, used_at, expires_at)
  VALUES (sha256(convert_to('pgbench-' || (:n)::int, 'UTF8')), (:visit)::bigint, now(), now(), now() + interval '2 hours')
  ON CONFLICT (token_hash) DO NOTHING RETURNING visit_id;
-- The code: the phone's latest, locked; marked used (the MAC is compared in Rust).
SELECT id, code_hash, expires_at, used_at, wrong_tries FROM phone_codes
  WHERE phone_index = sha256(convert_to('ph-' || (:n)::int, 'UTF8')) ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE;
UPDATE phone_codes SET used_at = now() WHERE id = (:phone_code_id)::bigint;
SELECT name FROM categories WHERE id = (:category)::bigint;
SELECT id FROM registrations WHERE id_number_index = sha256(convert_to('id-' || (:n)::int, 'UTF8')) AND visit_id = (:visit)::bigint
  AND status NOT IN ('cancelled', 'rejected') ORDER BY id LIMIT 1;
SELECT id FROM registrations WHERE id_number_index = sha256(convert_to('id-' || (:n)::int, 'UTF8')) AND visit_id <> (:visit)::bigint
  AND created_at >= now() - interval '2 months' ORDER BY created_at DESC LIMIT 1;
SELECT c.id, c.code, c.status,
       EXISTS (SELECT 1 FROM reviews v WHERE v.case_id = c.id AND v.kind = 're_review' AND v.result = 'upheld') AS upheld
  FROM registrations r
  LEFT JOIN receptions rc ON rc.registration_id = r.id
  LEFT JOIN issues i ON i.reception_id = rc.id
  JOIN cases c ON c.issue_id = i.id OR (r.survey_item_id IS NOT NULL AND c.survey_item_id = r.survey_item_id)
  WHERE r.id_number_index = sha256(convert_to('id-' || (:n)::int, 'UTF8'))
  ORDER BY c.id DESC;
UPDATE reception_windows SET booked_slots = booked_slots + 1
  WHERE id = (:w)::bigint AND visit_id = (:visit)::bigint AND booked_slots + 1 <= capacity_slots RETURNING starts_at, ends_at;
-- Name, address, representatives and grievance are sealed in Rust too (SM4-GCM bound to the row,
-- src/prepare/booking): hash bytes of the ciphertexts' real lengths stand in for them (format
-- byte + 12 nonce + text + 16 tag: 张三 35, 浦阳街道人民路1号 54, no representatives 29,
-- the grievance 92), so the rows and indexes are as large as the app's; the encryption's CPU is not measured.
-- The app also takes the id (nextval) first, to bind the ciphertexts to it.
SELECT nextval(pg_get_serial_sequence('registrations', 'id')) AS registration_id \gset
SAVEPOINT new_code;
INSERT INTO registrations (visit_id, code, channel, id_number_cipher, id_number_key_id, id_number_index, id_number_mask,
    phone_cipher, phone_key_id, phone_index, phone_mask, township, persons, category_id,
    window_id, slots, status, consent_at, submitted_session_hash, created_by, created_at, id,
    name_cipher, name_key_id, name_index, name_mask, address_cipher, address_key_id,
    representatives_cipher, representatives_key_id, representatives_count, grievance_cipher, grievance_key_id)
  OVERRIDING SYSTEM VALUE
  VALUES ((:visit)::bigint, translate(upper(substr(md5(random()::text), 1, 10)), '01', '23'), 'online',
    sha256(convert_to('c-' || (:n)::int, 'UTF8')) || sha256(convert_to('d-' || (:n)::int, 'UTF8')), 1, sha256(convert_to('id-' || (:n)::int, 'UTF8')), '330***********123X',
    sha256(convert_to('p-' || (:n)::int, 'UTF8')) || sha256(convert_to('q-' || (:n)::int, 'UTF8')), 1, sha256(convert_to('ph-' || (:n)::int, 'UTF8')), '138****5678',
    '浦阳街道', 1, (:category)::bigint,
    (:w)::bigint, 1, 'submitted', now(), sha256(convert_to('s-' || (:n)::int, 'UTF8')), NULL, now(), (:registration_id)::bigint,
    substr(sha512(convert_to('n-' || (:n)::int, 'UTF8')), 1, 35), 1, sha256(convert_to('nm-' || (:n)::int, 'UTF8')), '张某某',
    substr(sha512(convert_to('a-' || (:n)::int, 'UTF8')), 1, 54), 1,
    substr(sha512(convert_to('r-' || (:n)::int, 'UTF8')), 1, 29), 1, 0,
    substr(sha512(convert_to('g-' || (:n)::int, 'UTF8')) || sha512(convert_to('h-' || (:n)::int, 'UTF8')), 1, 92), 1)
  RETURNING id \gset
UPDATE form_tokens SET registration_id = (:registration_id)::bigint WHERE token_hash = sha256(convert_to('pgbench-' || (:n)::int, 'UTF8'));
-- The audit chain (src/audit.rs): the app takes the chain's lock to the end of the transaction and
-- links to the last hash; sha256 stands in for SM3, which PostgreSQL lacks (the app hashes in Rust).
SELECT pg_advisory_xact_lock(7263010);
INSERT INTO audit_log (actor_id, actor_name, role, ip, action, object_type, object_id, success, detail, prev_hash, hash)
  SELECT NULL, 'anonymous', NULL, ('10.' || (:a)::int || '.' || (:b)::int || '.' || (:c)::int)::inet, 'registration.create', 'registration', (:registration_id)::bigint, true,
          jsonb_build_object('visit_id', (:visit)::bigint, 'code', 'X', 'channel', 'online', 'window_id', (:w)::bigint, 'waitlisted', false, 'flags', '[]'::jsonb),
          p.hash, sha256(COALESCE(p.hash, '') || convert_to((:registration_id)::text, 'UTF8'))
  FROM (SELECT (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS hash) p;
INSERT INTO notifications (channel, registration_id, user_id, recipient_mask, kind, params, body)
  VALUES ('sms', (:registration_id)::bigint, NULL, '138****5678', 'registration.submitted', jsonb_build_object('title', '浦阳县领导下访接访', 'code', 'X', 'window', '12月4日 09:00—10:00'),
          '您已登记浦阳县领导下访接访，登记编号 X，接访时段 12月4日 09:00—10:00。请携带身份证原件和相关材料按时到场。')
  RETURNING id;
COMMIT;
