-- Named queries both SQL stores run as written (SQLite and PostgreSQL spell them the same); each dialect's
-- queries.sql adds its own. Each starts with "-- name: <name>"; parameters are :named.

-- name: insert_application
INSERT INTO applications (id, name, created_at) VALUES (:id, :name, :created_at);

-- name: get_application
SELECT id, name, created_at FROM applications WHERE id = :id;

-- name: rename_application
UPDATE applications SET name = :name WHERE id = :id RETURNING id, name, created_at;

-- name: insert_endpoint
INSERT INTO endpoints (id, app_id, url, created_at, updated_at, event_types, enabled, disabled_reason, scheme,
    secrets_sealed, headers, timeout_s, rate_limit_per_s, max_concurrency, retry_schedule, allow_insecure,
    settings, failing_since, version)
VALUES (:id, :app_id, :url, :created_at, :updated_at, :event_types, :enabled, :disabled_reason, :scheme,
    :secrets_sealed, :headers, :timeout_s, :rate_limit_per_s, :max_concurrency, :retry_schedule, :allow_insecure,
    :settings, :failing_since, :version);

-- name: update_endpoint
-- field-scoped and version-checked: the configuration an operator edits, and only over the version the writer
-- read; enablement, health, owner, scheme and creation time have their own statements and stay as stored
UPDATE endpoints SET url = :url, updated_at = :updated_at, event_types = :event_types,
    secrets_sealed = :secrets_sealed, headers = :headers, timeout_s = :timeout_s,
    rate_limit_per_s = :rate_limit_per_s, max_concurrency = :max_concurrency, retry_schedule = :retry_schedule,
    allow_insecure = :allow_insecure, settings = :settings, version = version + 1
WHERE id = :id AND version = :version AND deleted_at IS NULL
RETURNING *;

-- name: get_endpoint
SELECT * FROM endpoints WHERE id = :id;

-- name: list_endpoints
-- get_endpoint still reads a deleted endpoint (the history that names it, the worker holding one of its
-- deliveries); listings leave it out
SELECT * FROM endpoints WHERE app_id = :app_id AND deleted_at IS NULL ORDER BY created_at, id;

-- name: delete_endpoint
-- a tombstone: disabled (so nothing fans out to it and the worker ends any delivery it still claims), its
-- sealed secrets dropped, never written again (update_endpoint and set_endpoint_enabled skip it)
UPDATE endpoints SET deleted_at = :now, enabled = :enabled, disabled_reason = 'deleted', secrets_sealed = :blob,
    failing_since = NULL, updated_at = :now, version = version + 1
WHERE id = :id AND deleted_at IS NULL;

-- name: kill_pending_of_endpoint
UPDATE deliveries SET status = 'dead', updated_at = :now
WHERE endpoint_id = :id AND status IN ('pending', 'failed');

-- name: endpoint_failing
UPDATE endpoints SET failing_since = COALESCE(failing_since, :now) WHERE id = :id RETURNING failing_since;

-- name: endpoint_healthy
UPDATE endpoints SET failing_since = NULL WHERE id = :id RETURNING failing_since;

-- name: find_idempotent
SELECT * FROM messages
WHERE app_id = :app_id AND idempotency_key = :key AND created_at > :since
ORDER BY created_at LIMIT 1;

-- name: insert_message
INSERT INTO messages (id, app_id, event_type, payload, created_at, idempotency_key)
VALUES (:id, :app_id, :event_type, :payload, :created_at, :idempotency_key);

-- name: get_message
SELECT * FROM messages WHERE id = :id;

-- name: insert_delivery
INSERT INTO deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
VALUES (:id, :message_id, :endpoint_id, 'pending', 0, :now, :now, :now);

-- name: list_deliveries
SELECT * FROM deliveries WHERE message_id = :message_id ORDER BY created_at, id;

-- name: get_delivery
SELECT * FROM deliveries WHERE id = :id;

-- name: list_attempts
SELECT * FROM attempts WHERE delivery_id = :delivery_id ORDER BY id;

-- name: resend
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, updated_at = :now,
    lease_owner = NULL, lease_expires_at = NULL, dead_reason = NULL
WHERE id = :id RETURNING *;

-- name: recover
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, updated_at = :now
WHERE endpoint_id = :endpoint_id AND status IN ('failed', 'dead') AND created_at >= :since;

-- name: insert_signing_key
INSERT INTO signing_keys (kid, kind, alg, private_sealed, public_jwk, status, created_at, activated_at, retired_at)
VALUES (:kid, :kind, :alg, :private_sealed, :public_jwk, :status, :created_at, :activated_at, :retired_at);

-- name: list_signing_keys
SELECT * FROM signing_keys ORDER BY created_at, kid;

-- name: demote_active_signing_key
UPDATE signing_keys SET status = 'previous' WHERE status = 'active' AND kid <> :kid;

-- name: set_signing_key_status
-- activated_at/retired_at are stamped on entering those states only (re-setting the same status keeps them)
UPDATE signing_keys SET status = :status,
    activated_at = CASE WHEN :status = 'active' AND status <> 'active' THEN :now ELSE activated_at END,
    retired_at = CASE WHEN :status = 'retired' AND status <> 'retired' THEN :now ELSE retired_at END
WHERE kid = :kid
RETURNING *;

-- name: set_endpoint_secrets_sealed
-- a new version: a copy read before the reseal must not write the old blob back
UPDATE endpoints SET secrets_sealed = :blob, version = version + 1 WHERE id = :id;

-- name: set_source_config_sealed
UPDATE inbound_sources SET config_sealed = :blob WHERE id = :id;

-- name: set_signing_key_private_sealed
UPDATE signing_keys SET private_sealed = :blob WHERE kid = :kid;

-- name: insert_api_token
INSERT INTO api_tokens (id, name, token_hash, scope, created_at, revoked_at)
VALUES (:id, :name, :token_hash, :scope, :created_at, :revoked_at);

-- name: find_api_token
SELECT * FROM api_tokens WHERE token_hash = :token_hash;

-- name: revoke_api_token
-- the first revocation time stays: revoking again changes nothing
UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, :now) WHERE id = :id RETURNING *;

-- name: put_event_type
INSERT INTO event_types (app_id, name, description, archived, created_at)
VALUES (:app_id, :name, :description, :archived, :created_at)
ON CONFLICT (app_id, name) DO UPDATE SET description = excluded.description, archived = excluded.archived,
    created_at = excluded.created_at;

-- name: list_endpoint_attempts
-- newest first by attempt id; the first page passes the largest possible id as :before
SELECT a.* FROM attempts AS a JOIN deliveries AS d ON d.id = a.delivery_id
WHERE d.endpoint_id = :endpoint_id AND a.id < :before
ORDER BY a.id DESC LIMIT :limit;

-- name: list_message_attempts
-- every attempt at the message's deliveries, newest first by attempt id (as list_endpoint_attempts)
SELECT a.* FROM attempts AS a JOIN deliveries AS d ON d.id = a.delivery_id
WHERE d.message_id = :message_id AND a.id < :before
ORDER BY a.id DESC LIMIT :limit;

-- name: put_source
-- create or replace by id (the creation time stays); a second source with the same name violates the
-- unique name
INSERT INTO inbound_sources (id, name, config_sealed, created_at, updated_at)
VALUES (:id, :name, :config_sealed, :created_at, :updated_at)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, config_sealed = excluded.config_sealed,
    updated_at = excluded.updated_at
RETURNING *;

-- name: get_source
SELECT * FROM inbound_sources WHERE id = :id;

-- name: delete_source
DELETE FROM inbound_sources WHERE id = :id;

-- name: count_due
SELECT (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'failed') AND next_attempt_at <= :now)
    + (SELECT count(*) FROM deliveries WHERE status = 'in_flight' AND lease_expires_at <= :now);

-- name: insert_console_session
INSERT INTO console_sessions (id, scope, capabilities, created_at, expires_at, link_hash, session_hash, created_by,
    opened_at, revoked_at)
VALUES (:id, :scope, :capabilities, :created_at, :expires_at, :link_hash, :session_hash, :created_by, :opened_at,
    :revoked_at);

-- name: open_console_session
-- one write both checks and spends the link: a second opening (or a concurrent one) matches no row
UPDATE console_sessions SET opened_at = :now, session_hash = :session_hash
WHERE link_hash = :link_hash AND opened_at IS NULL AND revoked_at IS NULL AND expires_at > :now
RETURNING *;

-- name: find_console_session
SELECT * FROM console_sessions WHERE session_hash = :session_hash;

-- name: list_console_sessions
SELECT * FROM console_sessions WHERE scope = :scope ORDER BY created_at DESC, id DESC;

-- name: revoke_console_session
-- the first revocation time stays: revoking again changes nothing
UPDATE console_sessions SET revoked_at = COALESCE(revoked_at, :now) WHERE id = :id RETURNING *;

-- name: insert_inbound_decision
INSERT INTO inbound_decisions (source, at, outcome, reason, status, peer)
VALUES (:source, :at, :outcome, :reason, :status, :peer);

-- name: prune_inbound_decisions
-- keep the newest :keep decisions of a source
DELETE FROM inbound_decisions WHERE source = :source AND id <= (
    SELECT id FROM inbound_decisions WHERE source = :source ORDER BY id DESC LIMIT 1 OFFSET :keep);

-- name: count_inbound_decisions
INSERT INTO inbound_decision_counts (source, minute, outcome, reason, count)
VALUES (:source, :minute, :outcome, :reason, :count)
ON CONFLICT (source, minute, outcome, reason)
DO UPDATE SET count = inbound_decision_counts.count + excluded.count;

-- name: prune_inbound_decision_counts
DELETE FROM inbound_decision_counts WHERE minute < :before;

-- name: inbound_decision_counts
SELECT outcome, reason, sum(count) AS count FROM inbound_decision_counts
WHERE source = :source AND minute >= :since
GROUP BY outcome, reason ORDER BY 3 DESC, 1, 2;

-- name: insert_task
INSERT INTO tasks (id, app_id, endpoint_id, kind, statuses, status_class, event_types, since, until, due_before,
    state, matched, done, error, cursor_at, cursor_id, lease_owner, lease_expires_at, created_at, updated_at)
VALUES (:id, :app_id, :endpoint_id, :kind, :statuses, :status_class, :event_types, :since, :until, :due_before,
    :state, :matched, :done, :error, :cursor_at, :cursor_id, :lease_owner, :lease_expires_at, :created_at,
    :updated_at);

-- name: get_task
SELECT * FROM tasks WHERE id = :id;

-- name: cancel_task
-- only an unfinished task is cancelled; its runner sees the state at its next batch and stops
UPDATE tasks SET state = 'cancelled', updated_at = :now, lease_expires_at = NULL
WHERE id = :id AND state IN ('pending', 'running') RETURNING *;

-- name: task_progress
-- one batch done: move the cursor and the count on, renew the lease (or end it with the task)
UPDATE tasks SET done = done + :n, cursor_at = :cursor_at, cursor_id = :cursor_id, state = :state,
    lease_expires_at = :lease_until, updated_at = :now
WHERE id = :id RETURNING *;

-- name: fail_task
UPDATE tasks SET state = 'failed', error = :error, updated_at = :now, lease_expires_at = NULL
WHERE id = :id AND state = 'running' AND lease_owner = :owner;
