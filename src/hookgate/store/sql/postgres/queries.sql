-- Named queries of the PostgreSQL store. Each starts with "-- name: <name>"; parameters are :named.

-- name: set_endpoint_enabled
-- with :version (a worker's verdict about the configuration it delivered to), only while that is current
UPDATE endpoints SET enabled = :enabled, disabled_reason = :reason, updated_at = :now,
    failing_since = CASE WHEN :enabled THEN NULL ELSE failing_since END, version = version + 1
WHERE id = :id AND (:version::int IS NULL OR version = :version::int) AND deleted_at IS NULL;

-- name: fan_out_candidates
SELECT * FROM endpoints WHERE app_id = :app_id AND enabled ORDER BY created_at, id;

-- name: claim
-- SKIP LOCKED: concurrent workers each take different rows instead of queueing behind one another's locks.
-- Two branches, each matching one partial index (deliveries_lease, deliveries_due), because an OR of the two
-- conditions can use neither; expired leases go first, they have waited longest.
-- One statement, one round trip: the claimed deliveries come back with their message and endpoint as whole
-- rows (composite columns), each only on the first claimed row that refers to it (a batch often shares one
-- endpoint, and a fanned-out message several endpoints), NULL on the others.
WITH expired AS (
    SELECT id FROM deliveries
    WHERE status = 'in_flight' AND lease_expires_at <= :now
    ORDER BY lease_expires_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM deliveries
    WHERE status IN ('pending', 'failed') AND next_attempt_at <= :now
    ORDER BY next_attempt_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT id FROM expired
    UNION ALL
    SELECT id FROM due
    LIMIT :limit
), claimed AS (
    UPDATE deliveries AS d
    SET status = 'in_flight', lease_owner = :owner, lease_expires_at = :lease_until, updated_at = :now
    FROM picked WHERE d.id = picked.id
    RETURNING d.*
)
-- The message and endpoint are scalar subqueries, not joins: each is one primary-key lookup, run only for the
-- row that carries it, where a join let the planner hash a whole table (a full scan of endpoints per claim).
SELECT c.*,
    CASE WHEN row_number() OVER (PARTITION BY c.message_id) = 1
        THEN (SELECT m FROM messages AS m WHERE m.id = c.message_id) END AS message,
    CASE WHEN row_number() OVER (PARTITION BY c.endpoint_id) = 1
        THEN (SELECT e FROM endpoints AS e WHERE e.id = c.endpoint_id) END AS endpoint
FROM claimed AS c
ORDER BY c.next_attempt_at, c.id;

-- name: complete
-- A whole batch of worker results in one statement, as parallel arrays (one element per result, at most one
-- per delivery and owner: see _rows.first_per_lease). A result applies only while its owner still holds the
-- lease; each applied result that made a request gets an attempt row, in result order. Returns the count.
WITH applied AS (
    UPDATE deliveries AS d
    SET status = r.status, next_attempt_at = r.next_attempt_at, attempts = d.attempts + r.attempted,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = r.started_at
    FROM unnest(:delivery_ids::text[], :owners::text[], :statuses::text[], :next_attempt_ats::float8[],
            :attempted::int[], :started_ats::float8[], :durations_ms::float8[], :status_codes::int[],
            :response_excerpts::text[], :error_classes::text[], :outcomes::text[], :request_headers::text[])
        WITH ORDINALITY AS r (delivery_id, owner, status, next_attempt_at, attempted, started_at, duration_ms,
            status_code, response_excerpt, error_class, outcome, request_headers, ord)
    WHERE d.id = r.delivery_id AND d.status = 'in_flight' AND d.lease_owner = r.owner
    RETURNING r.*
), recorded AS (
    INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code, response_excerpt, error_class,
        outcome, request_headers)
    SELECT delivery_id, started_at, duration_ms, status_code, response_excerpt, error_class, outcome,
        request_headers
    FROM applied WHERE attempted = 1
    ORDER BY ord
)
SELECT count(*) FROM applied;

-- name: release
UPDATE deliveries SET status = CASE WHEN attempts > 0 THEN 'failed' ELSE 'pending' END,
    next_attempt_at = :now, updated_at = :now, lease_owner = NULL, lease_expires_at = NULL
WHERE id = ANY(:ids::text[]) AND status = 'in_flight' AND lease_owner = :owner;

-- name: next_due_at
SELECT MIN(due) FROM (
    SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status IN ('pending', 'failed')
    UNION ALL
    SELECT MIN(lease_expires_at) AS due FROM deliveries WHERE status = 'in_flight'
) AS t;

-- name: notify_work
-- the payload names the schema: deployments in other schemas of the same database share the channel
SELECT pg_notify('hookgate_work', current_schema());

-- name: sealed_sources
SELECT id, config_sealed FROM inbound_sources ORDER BY id FOR UPDATE;

-- name: lock_signing_keys
-- serialises status changes and reseals of the key ring (both take it before touching signing_keys rows)
SELECT pg_advisory_xact_lock(7438202);

-- name: sealed_endpoints
-- FOR UPDATE: a concurrent update_endpoint waits instead of being overwritten by the resealed old blob
SELECT id, secrets_sealed FROM endpoints WHERE length(secrets_sealed) > 0 ORDER BY id FOR UPDATE;

-- name: sealed_signing_keys
SELECT kid, private_sealed FROM signing_keys ORDER BY kid FOR UPDATE;

-- Management API. Listings are newest first by (created_at, id) and continue strictly after the cursor's
-- position (:c_at, :c_id); the first page passes (+inf, ''), before every row. They fetch :limit + 1 rows,
-- the extra one only telling that another page exists. Ids compare as COLLATE "C" (bytewise, like SQLite
-- and Python) whatever the database's collation; the listing indexes are declared with it.

-- name: list_applications
SELECT id, name, created_at FROM applications
WHERE (created_at, id COLLATE "C") < (:c_at::float8, :c_id::text)
ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT :limit;

-- name: list_api_tokens
SELECT * FROM api_tokens ORDER BY created_at, id COLLATE "C";

-- name: list_event_types
SELECT * FROM event_types WHERE app_id = :app_id ORDER BY name COLLATE "C";

-- name: list_messages
-- since/until are -inf/+inf when not filtering. The status filter is an ARRAY sublink, not EXISTS: EXISTS may
-- be planned as a hash of every delivery with that status (a full scan of deliveries); this probes the few
-- deliveries of each listed message through deliveries_message
SELECT * FROM messages
WHERE app_id = :app_id AND created_at >= :since AND created_at < :until
    AND (created_at, id COLLATE "C") < (:c_at::float8, :c_id::text)
    AND (:status::text IS NULL OR :status::text = ANY (
        ARRAY(SELECT d.status FROM deliveries AS d WHERE d.message_id = messages.id)))
ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT :limit;

-- name: list_messages_of_type
SELECT * FROM messages
WHERE app_id = :app_id AND event_type = :event_type AND created_at >= :since AND created_at < :until
    AND (created_at, id COLLATE "C") < (:c_at::float8, :c_id::text)
    AND (:status::text IS NULL OR :status::text = ANY (
        ARRAY(SELECT d.status FROM deliveries AS d WHERE d.message_id = messages.id)))
ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT :limit;

-- name: list_messages_by_key
-- the messages published with one idempotency key (the partial index messages_idempotency finds them)
SELECT * FROM messages
WHERE app_id = :app_id AND idempotency_key = :idempotency_key
    AND (:event_type::text IS NULL OR event_type = :event_type::text) AND created_at >= :since
    AND created_at < :until AND (created_at, id COLLATE "C") < (:c_at::float8, :c_id::text)
    AND (:status::text IS NULL OR :status::text = ANY (
        ARRAY(SELECT d.status FROM deliveries AS d WHERE d.message_id = messages.id)))
ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT :limit;

-- name: list_endpoint_deliveries
SELECT * FROM deliveries
WHERE endpoint_id = :endpoint_id AND (:status::text IS NULL OR status = :status::text)
    AND (created_at, id COLLATE "C") < (:c_at::float8, :c_id::text)
ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT :limit;

-- name: list_endpoint_failed_deliveries
-- list_endpoint_deliveries for a failed or dead :status: the literal IN lets the planner use the partial
-- index deliveries_endpoint_failed, in a generic plan too (the bulk resend pages through this)
SELECT * FROM deliveries
WHERE endpoint_id = :endpoint_id AND status = :status::text AND status IN ('failed', 'dead')
    AND (created_at, id COLLATE "C") < (:c_at::float8, :c_id::text)
ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT :limit;

-- name: list_sources
SELECT * FROM inbound_sources ORDER BY name COLLATE "C";

-- name: attempt_buckets
-- The overview's charts: attempts started in [since, until) per period of :step seconds and latency bucket
-- (store.base.LATENCY_BOUNDS_MS, in ms: 12 is beyond the last), with how many got a 2xx. Answered from the
-- covering index attempts_started alone (tests/store/test_attempt_stats.py checks the plan).
SELECT floor(started_at / :step::float8)::bigint AS period,
    CASE WHEN duration_ms <= 5 THEN 0 WHEN duration_ms <= 10 THEN 1 WHEN duration_ms <= 25 THEN 2
        WHEN duration_ms <= 50 THEN 3 WHEN duration_ms <= 100 THEN 4 WHEN duration_ms <= 250 THEN 5
        WHEN duration_ms <= 500 THEN 6 WHEN duration_ms <= 1000 THEN 7 WHEN duration_ms <= 2500 THEN 8
        WHEN duration_ms <= 5000 THEN 9 WHEN duration_ms <= 10000 THEN 10 WHEN duration_ms <= 30000 THEN 11
        ELSE 12 END AS bucket,
    count(*) AS attempts,
    sum(CASE WHEN status_code BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS delivered
FROM attempts
WHERE started_at >= :since AND started_at < :until
GROUP BY 1, 2;

-- name: list_inbound_decisions
SELECT * FROM inbound_decisions WHERE source = :source AND (:reason::text IS NULL OR reason = :reason::text)
ORDER BY id DESC LIMIT :limit;

-- name: list_tasks
SELECT * FROM tasks WHERE app_id = :app_id ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT :limit;

-- name: claim_task
-- the oldest unfinished task nobody holds (pending, or running with an expired lease: its runner died);
-- SKIP LOCKED: a task another runner is working on right now (its row locked by a batch) is passed over
UPDATE tasks SET state = 'running', lease_owner = :owner, lease_expires_at = :lease_until, updated_at = :now
WHERE id = (
    SELECT id FROM tasks
    WHERE state = 'pending' OR (state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= :now))
    ORDER BY created_at, id COLLATE "C" LIMIT 1
    FOR UPDATE SKIP LOCKED
) RETURNING *;

-- name: lock_task
-- a batch holds the task's row lock: cancel, claim and other batches of the same task wait or skip it
SELECT * FROM tasks WHERE id = :id FOR UPDATE;

-- name: task_resend_select
-- Bulk tasks walk their selection in creation order from a cursor, a batch at a time, and only what existed
-- when the task was created (:snapshot). :status_class is the last attempt's status code / 100, 0 for no
-- answer. Each *_select has a *_count twin with the same conditions.
SELECT d.id, d.created_at FROM deliveries d
JOIN messages m ON m.id = d.message_id JOIN endpoints e ON e.id = d.endpoint_id
WHERE m.app_id = :app_id AND (:endpoint_id::text IS NULL OR d.endpoint_id = :endpoint_id::text)
    AND e.enabled AND e.deleted_at IS NULL
    AND d.status = ANY(:statuses::text[])
    AND (:event_types::text[] IS NULL OR m.event_type = ANY(:event_types::text[]))
    AND d.created_at >= :since::float8 AND d.created_at < :until::float8 AND d.created_at <= :snapshot::float8
    AND (:status_class::int IS NULL OR COALESCE((SELECT a.status_code / 100 FROM attempts a
        WHERE a.delivery_id = d.id ORDER BY a.id DESC LIMIT 1), 0) = :status_class::int)
    AND (d.created_at, d.id COLLATE "C") > (:c_at::float8, :c_id::text)
ORDER BY d.created_at, d.id COLLATE "C" LIMIT :limit;

-- name: task_resend_count
SELECT count(*) FROM deliveries d
JOIN messages m ON m.id = d.message_id JOIN endpoints e ON e.id = d.endpoint_id
WHERE m.app_id = :app_id AND (:endpoint_id::text IS NULL OR d.endpoint_id = :endpoint_id::text)
    AND e.enabled AND e.deleted_at IS NULL
    AND d.status = ANY(:statuses::text[])
    AND (:event_types::text[] IS NULL OR m.event_type = ANY(:event_types::text[]))
    AND d.created_at >= :since::float8 AND d.created_at < :until::float8 AND d.created_at <= :snapshot::float8
    AND (:status_class::int IS NULL OR COALESCE((SELECT a.status_code / 100 FROM attempts a
        WHERE a.delivery_id = d.id ORDER BY a.id DESC LIMIT 1), 0) = :status_class::int);

-- name: task_resend_apply
-- the status is checked again: a delivery claimed or delivered since the select is left alone
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, updated_at = :now,
    lease_owner = NULL, lease_expires_at = NULL, dead_reason = NULL
WHERE id = ANY(:ids::text[]) AND status = ANY(:statuses::text[]);

-- name: task_cancel_select
SELECT d.id, d.created_at FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE m.app_id = :app_id AND (:endpoint_id::text IS NULL OR d.endpoint_id = :endpoint_id::text)
    AND d.status IN ('pending', 'failed') AND d.next_attempt_at < :due_before::float8
    AND (:event_types::text[] IS NULL OR m.event_type = ANY(:event_types::text[]))
    AND d.created_at >= :since::float8 AND d.created_at < :until::float8 AND d.created_at <= :snapshot::float8
    AND (d.created_at, d.id COLLATE "C") > (:c_at::float8, :c_id::text)
ORDER BY d.created_at, d.id COLLATE "C" LIMIT :limit;

-- name: task_cancel_count
SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE m.app_id = :app_id AND (:endpoint_id::text IS NULL OR d.endpoint_id = :endpoint_id::text)
    AND d.status IN ('pending', 'failed') AND d.next_attempt_at < :due_before::float8
    AND (:event_types::text[] IS NULL OR m.event_type = ANY(:event_types::text[]))
    AND d.created_at >= :since::float8 AND d.created_at < :until::float8 AND d.created_at <= :snapshot::float8;

-- name: task_cancel_apply
UPDATE deliveries SET status = 'dead', updated_at = :now, dead_reason = :reason
WHERE id = ANY(:ids::text[]) AND status IN ('pending', 'failed');

-- name: task_missing_select
SELECT m.id, m.event_type, m.created_at FROM messages m
WHERE m.app_id = :app_id
    AND (:event_types::text[] IS NULL OR m.event_type = ANY(:event_types::text[]))
    AND m.created_at >= :since::float8 AND m.created_at < :until::float8 AND m.created_at <= :snapshot::float8
    AND (m.created_at, m.id COLLATE "C") > (:c_at::float8, :c_id::text)
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.endpoint_id = :endpoint_id::text)
ORDER BY m.created_at, m.id COLLATE "C" LIMIT :limit;

-- name: task_missing_count
-- by event type: the caller keeps the types the endpoint subscribes to (its filter has wildcards)
SELECT m.event_type, count(*) FROM messages m
WHERE m.app_id = :app_id
    AND (:event_types::text[] IS NULL OR m.event_type = ANY(:event_types::text[]))
    AND m.created_at >= :since::float8 AND m.created_at < :until::float8 AND m.created_at <= :snapshot::float8
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.endpoint_id = :endpoint_id::text)
GROUP BY m.event_type;

-- name: expunge_select
-- the next batch of an application's messages created before :before and not yet expunged, in creation
-- order from the cursor (c_at, c_id): a walk of messages_app, never over the batches already done
SELECT id, created_at FROM messages
WHERE app_id = :app_id AND created_at < :before
    AND (created_at, id COLLATE "C") > (:c_at::float8, :c_id::text) AND expunged_at IS NULL
ORDER BY created_at, id COLLATE "C" LIMIT :limit;

-- name: expunge_apply
-- a message expunged before keeps its first expunged_at
UPDATE messages SET payload = :empty, expunged_at = COALESCE(expunged_at, :now)
WHERE id = ANY(:ids::text[]);

-- name: expunge_kill
-- the expunged messages' deliveries still to be sent (or in flight: a retry would send the empty body) die
-- with the reason; the lease goes, so a worker still holding one cannot complete it
UPDATE deliveries SET status = 'dead', updated_at = :now, dead_reason = :reason, lease_owner = NULL,
    lease_expires_at = NULL
WHERE message_id = ANY(:ids::text[]) AND status IN ('pending', 'failed', 'in_flight');

-- name: expunge_excerpts
-- the receivers' answers may echo the payload: blanked (the request headers stay, redacted when recorded)
UPDATE attempts SET response_excerpt = ''
WHERE delivery_id IN (SELECT id FROM deliveries WHERE message_id = ANY(:ids::text[])) AND response_excerpt <> '';
