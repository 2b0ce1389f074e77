-- Named queries of the SQLite store. Each starts with "-- name: <name>"; parameters are :named.

-- name: set_endpoint_enabled
-- with :version (a worker's verdict about the configuration it delivered to), only while that is current
UPDATE endpoints SET enabled = :enabled, disabled_reason = :reason, updated_at = :now,
    failing_since = CASE WHEN :enabled THEN NULL ELSE failing_since END, version = version + 1
WHERE id = :id AND (:version IS NULL OR version = :version) AND deleted_at IS NULL;

-- name: fan_out_candidates
SELECT * FROM endpoints WHERE app_id = :app_id AND enabled = 1 ORDER BY created_at, id;

-- name: claim
-- Each branch takes at most :limit rows in the order of its partial index (deliveries_due, deliveries_lease),
-- so a claim reads O(limit) rows however large the backlog; the earliest of both then win.
UPDATE deliveries SET status = 'in_flight', lease_owner = :owner, lease_expires_at = :lease_until, updated_at = :now
WHERE id IN (
    SELECT id FROM (
        SELECT * FROM (
            SELECT id, next_attempt_at AS due FROM deliveries
            WHERE status IN ('pending', 'failed') AND next_attempt_at <= :now
            ORDER BY next_attempt_at LIMIT :limit
        )
        UNION ALL
        SELECT * FROM (
            SELECT id, lease_expires_at AS due FROM deliveries
            WHERE status = 'in_flight' AND lease_expires_at <= :now
            ORDER BY lease_expires_at LIMIT :limit
        )
    ) ORDER BY due LIMIT :limit
)
RETURNING *;

-- name: claimed_messages
-- the messages of a claimed batch; :ids is a JSON array (one parameter whatever the batch size)
SELECT * FROM messages WHERE id IN (SELECT value FROM json_each(:ids));

-- name: claimed_endpoints
SELECT * FROM endpoints WHERE id IN (SELECT value FROM json_each(:ids));

-- name: leases
-- who holds each of the given deliveries (in flight only), so complete can tell which results still apply
SELECT id, lease_owner FROM deliveries WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'in_flight';

-- name: complete
UPDATE deliveries SET status = :status, next_attempt_at = :next_attempt_at, attempts = attempts + :attempted,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = :started_at
WHERE id = :delivery_id AND status = 'in_flight' AND lease_owner = :owner;

-- name: insert_attempt
INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code, response_excerpt, error_class, outcome,
    request_headers)
VALUES (:delivery_id, :started_at, :duration_ms, :status_code, :response_excerpt, :error_class, :outcome,
    :request_headers);

-- name: release
UPDATE deliveries SET status = CASE WHEN attempts > 0 THEN 'failed' ELSE 'pending' END,
    next_attempt_at = :now, updated_at = :now, lease_owner = NULL, lease_expires_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'in_flight' AND lease_owner = :owner;

-- name: next_due_at
SELECT MIN(due) FROM (
    SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status IN ('pending', 'failed')
    UNION ALL
    SELECT MIN(lease_expires_at) AS due FROM deliveries WHERE status = 'in_flight'
);

-- name: sealed_sources
SELECT id, config_sealed FROM inbound_sources ORDER BY id;

-- name: sealed_endpoints
SELECT id, secrets_sealed FROM endpoints WHERE length(secrets_sealed) > 0 ORDER BY id;

-- name: sealed_signing_keys
SELECT kid, private_sealed FROM signing_keys ORDER BY kid;

-- Management API. Listings are newest first by (created_at, id) and continue strictly after the cursor's
-- position (:c_at, :c_id); the first page passes (+inf, ''), before every row. They fetch :limit + 1 rows,
-- the extra one only telling that another page exists.

-- name: list_applications
SELECT id, name, created_at FROM applications
WHERE (created_at, id) < (:c_at, :c_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_api_tokens
SELECT * FROM api_tokens ORDER BY created_at, id;

-- name: list_event_types
SELECT * FROM event_types WHERE app_id = :app_id ORDER BY name;

-- name: list_messages
-- since/until are -inf/+inf when not filtering
SELECT * FROM messages
WHERE app_id = :app_id AND created_at >= :since AND created_at < :until AND (created_at, id) < (:c_at, :c_id)
    AND (:status IS NULL
        OR EXISTS (SELECT 1 FROM deliveries AS d WHERE d.message_id = messages.id AND d.status = :status))
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_messages_of_type
SELECT * FROM messages
WHERE app_id = :app_id AND event_type = :event_type AND created_at >= :since AND created_at < :until
    AND (created_at, id) < (:c_at, :c_id)
    AND (:status IS NULL
        OR EXISTS (SELECT 1 FROM deliveries AS d WHERE d.message_id = messages.id AND d.status = :status))
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_messages_by_key
-- the messages published with one idempotency key (the partial index messages_idempotency finds them)
SELECT * FROM messages
WHERE app_id = :app_id AND idempotency_key = :idempotency_key
    AND (:event_type IS NULL OR event_type = :event_type) AND created_at >= :since AND created_at < :until
    AND (created_at, id) < (:c_at, :c_id)
    AND (:status IS NULL
        OR EXISTS (SELECT 1 FROM deliveries AS d WHERE d.message_id = messages.id AND d.status = :status))
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_endpoint_deliveries
SELECT * FROM deliveries
WHERE endpoint_id = :endpoint_id AND (:status IS NULL OR status = :status) AND (created_at, id) < (:c_at, :c_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_endpoint_failed_deliveries
-- list_endpoint_deliveries for a failed or dead :status: the literal IN lets the planner use the partial
-- index deliveries_endpoint_failed (the bulk resend pages through this)
SELECT * FROM deliveries
WHERE endpoint_id = :endpoint_id AND status = :status AND status IN ('failed', 'dead')
    AND (created_at, id) < (:c_at, :c_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_sources
SELECT * FROM inbound_sources ORDER BY name;

-- name: attempt_buckets
-- The overview's charts: attempts started in [since, until) per period of :step seconds and latency bucket
-- (store.base.LATENCY_BOUNDS_MS, in ms: 12 is beyond the last), with how many got a 2xx. Answered from the
-- covering index attempts_started alone (tests/store/test_attempt_stats.py checks the plan).
SELECT CAST(started_at / :step AS INTEGER) AS period,
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
SELECT * FROM inbound_decisions WHERE source = :source AND (:reason IS NULL OR reason = :reason)
ORDER BY id DESC LIMIT :limit;

-- name: list_tasks
SELECT * FROM tasks WHERE app_id = :app_id ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: claim_task
-- the oldest unfinished task nobody holds (pending, or running with an expired lease: its runner died);
-- the write lock of the transaction makes this exclusive
UPDATE tasks SET state = 'running', lease_owner = :owner, lease_expires_at = :lease_until, updated_at = :now
WHERE id = (
    SELECT id FROM tasks
    WHERE state = 'pending' OR (state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= :now))
    ORDER BY created_at, id LIMIT 1
) RETURNING *;

-- name: lock_task
SELECT * FROM tasks WHERE id = :id;

-- name: task_resend_select
-- Bulk tasks walk their selection in creation order from a cursor, a batch at a time, and only what existed
-- when the task was created (:snapshot). Lists are JSON arrays; :status_class is the last attempt's status
-- code // 100, 0 for no answer. Each *_select has a *_count twin with the same conditions.
SELECT d.id, d.created_at FROM deliveries d
JOIN messages m ON m.id = d.message_id JOIN endpoints e ON e.id = d.endpoint_id
WHERE m.app_id = :app_id AND (:endpoint_id IS NULL OR d.endpoint_id = :endpoint_id)
    AND e.enabled = 1 AND e.deleted_at IS NULL
    AND d.status IN (SELECT value FROM json_each(:statuses))
    AND (:event_types IS NULL OR m.event_type IN (SELECT value FROM json_each(:event_types)))
    AND d.created_at >= :since AND d.created_at < :until AND d.created_at <= :snapshot
    AND (:status_class IS NULL OR COALESCE((SELECT a.status_code / 100 FROM attempts a
        WHERE a.delivery_id = d.id ORDER BY a.id DESC LIMIT 1), 0) = :status_class)
    AND (d.created_at, d.id) > (:c_at, :c_id)
ORDER BY d.created_at, d.id LIMIT :limit;

-- name: task_resend_count
SELECT count(*) FROM deliveries d
JOIN messages m ON m.id = d.message_id JOIN endpoints e ON e.id = d.endpoint_id
WHERE m.app_id = :app_id AND (:endpoint_id IS NULL OR d.endpoint_id = :endpoint_id)
    AND e.enabled = 1 AND e.deleted_at IS NULL
    AND d.status IN (SELECT value FROM json_each(:statuses))
    AND (:event_types IS NULL OR m.event_type IN (SELECT value FROM json_each(:event_types)))
    AND d.created_at >= :since AND d.created_at < :until AND d.created_at <= :snapshot
    AND (:status_class IS NULL OR COALESCE((SELECT a.status_code / 100 FROM attempts a
        WHERE a.delivery_id = d.id ORDER BY a.id DESC LIMIT 1), 0) = :status_class);

-- name: task_resend_apply
-- the status is checked again: a delivery claimed or delivered since the select is left alone
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, updated_at = :now,
    lease_owner = NULL, lease_expires_at = NULL, dead_reason = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND status IN (SELECT value FROM json_each(:statuses));

-- name: task_cancel_select
SELECT d.id, d.created_at FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE m.app_id = :app_id AND (:endpoint_id IS NULL OR d.endpoint_id = :endpoint_id)
    AND d.status IN ('pending', 'failed') AND d.next_attempt_at < :due_before
    AND (:event_types IS NULL OR m.event_type IN (SELECT value FROM json_each(:event_types)))
    AND d.created_at >= :since AND d.created_at < :until AND d.created_at <= :snapshot
    AND (d.created_at, d.id) > (:c_at, :c_id)
ORDER BY d.created_at, d.id LIMIT :limit;

-- name: task_cancel_count
SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE m.app_id = :app_id AND (:endpoint_id IS NULL OR d.endpoint_id = :endpoint_id)
    AND d.status IN ('pending', 'failed') AND d.next_attempt_at < :due_before
    AND (:event_types IS NULL OR m.event_type IN (SELECT value FROM json_each(:event_types)))
    AND d.created_at >= :since AND d.created_at < :until AND d.created_at <= :snapshot;

-- name: task_cancel_apply
UPDATE deliveries SET status = 'dead', updated_at = :now, dead_reason = :reason
WHERE id IN (SELECT value FROM json_each(:ids)) AND status IN ('pending', 'failed');

-- name: task_missing_select
SELECT m.id, m.event_type, m.created_at FROM messages m
WHERE m.app_id = :app_id
    AND (:event_types IS NULL OR m.event_type IN (SELECT value FROM json_each(:event_types)))
    AND m.created_at >= :since AND m.created_at < :until AND m.created_at <= :snapshot
    AND (m.created_at, m.id) > (:c_at, :c_id)
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.endpoint_id = :endpoint_id)
ORDER BY m.created_at, m.id LIMIT :limit;

-- name: task_missing_count
-- by event type: the caller keeps the types the endpoint subscribes to (its filter has wildcards)
SELECT m.event_type, count(*) FROM messages m
WHERE m.app_id = :app_id
    AND (:event_types IS NULL OR m.event_type IN (SELECT value FROM json_each(:event_types)))
    AND m.created_at >= :since AND m.created_at < :until AND m.created_at <= :snapshot
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.endpoint_id = :endpoint_id)
GROUP BY m.event_type;

-- name: expunge_select
-- the next batch of an application's messages created before :before and not yet expunged, in creation
-- order from the cursor (c_at, c_id): a walk of messages_app, never over the batches already done
SELECT id, created_at FROM messages
WHERE app_id = :app_id AND created_at < :before AND (created_at, id) > (:c_at, :c_id) AND expunged_at IS NULL
ORDER BY created_at, id LIMIT :limit;

-- name: expunge_apply
-- :ids is a JSON array; a message expunged before keeps its first expunged_at
UPDATE messages SET payload = :empty, expunged_at = COALESCE(expunged_at, :now)
WHERE id IN (SELECT value FROM json_each(:ids));

-- name: expunge_kill
-- the expunged messages' deliveries still to be sent (or in flight: a retry would send the empty body) die
-- with the reason; the lease goes, so a worker still holding one cannot complete it
UPDATE deliveries SET status = 'dead', updated_at = :now, dead_reason = :reason, lease_owner = NULL,
    lease_expires_at = NULL
WHERE message_id IN (SELECT value FROM json_each(:ids)) AND status IN ('pending', 'failed', 'in_flight');

-- name: expunge_excerpts
-- the receivers' answers may echo the payload: blanked (the request headers stay, redacted when recorded)
UPDATE attempts SET response_excerpt = ''
WHERE delivery_id IN (SELECT id FROM deliveries WHERE message_id IN (SELECT value FROM json_each(:ids)))
    AND response_excerpt <> '';
