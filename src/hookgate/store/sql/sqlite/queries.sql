-- Named queries of the SQLite store. Each starts with "-- name: <name>"; parameters are :named.

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
WHERE id = :id AND version = :version
RETURNING *;

-- name: get_endpoint
SELECT * FROM endpoints WHERE id = :id;

-- name: list_endpoints
SELECT * FROM endpoints WHERE app_id = :app_id ORDER BY created_at, id;

-- name: set_endpoint_enabled
-- with :version (a worker's verdict about the configuration it delivered to), only while that is current
UPDATE endpoints SET enabled = :enabled, disabled_reason = :reason, updated_at = :now,
    failing_since = CASE WHEN :enabled THEN NULL ELSE failing_since END, version = version + 1
WHERE id = :id AND (:version IS NULL OR version = :version);

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

-- name: fan_out_candidates
SELECT * FROM endpoints WHERE app_id = :app_id AND enabled = 1 ORDER BY created_at, id;

-- name: insert_delivery
INSERT INTO deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
VALUES (:id, :message_id, :endpoint_id, 'pending', 0, :now, :now, :now);

-- name: list_deliveries
SELECT * FROM deliveries WHERE message_id = :message_id ORDER BY created_at, id;

-- name: get_delivery
SELECT * FROM deliveries WHERE id = :id;

-- name: list_attempts
SELECT * FROM attempts WHERE delivery_id = :delivery_id ORDER BY id;

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
INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code, response_excerpt, error_class, outcome)
VALUES (:delivery_id, :started_at, :duration_ms, :status_code, :response_excerpt, :error_class, :outcome);

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

-- name: resend
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, updated_at = :now,
    lease_owner = NULL, lease_expires_at = NULL
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

-- name: sealed_sources
SELECT id, config_sealed FROM inbound_sources ORDER BY id;

-- name: set_source_config_sealed
UPDATE inbound_sources SET config_sealed = :blob WHERE id = :id;

-- name: set_signing_key_private_sealed
UPDATE signing_keys SET private_sealed = :blob WHERE kid = :kid;

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

-- name: insert_api_token
INSERT INTO api_tokens (id, name, token_hash, scope, created_at, revoked_at)
VALUES (:id, :name, :token_hash, :scope, :created_at, :revoked_at);

-- name: find_api_token
SELECT * FROM api_tokens WHERE token_hash = :token_hash;

-- name: list_api_tokens
SELECT * FROM api_tokens ORDER BY created_at, id;

-- name: revoke_api_token
-- the first revocation time stays: revoking again changes nothing
UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, :now) WHERE id = :id RETURNING *;

-- name: put_event_type
INSERT INTO event_types (app_id, name, description, archived, created_at)
VALUES (:app_id, :name, :description, :archived, :created_at)
ON CONFLICT (app_id, name) DO UPDATE SET description = excluded.description, archived = excluded.archived,
    created_at = excluded.created_at;

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

-- name: list_endpoint_deliveries
SELECT * FROM deliveries
WHERE endpoint_id = :endpoint_id AND (:status IS NULL OR status = :status) AND (created_at, id) < (:c_at, :c_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

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

-- name: list_sources
SELECT * FROM inbound_sources ORDER BY name;

-- name: delete_source
DELETE FROM inbound_sources WHERE id = :id;

-- name: count_due
SELECT (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'failed') AND next_attempt_at <= :now)
    + (SELECT count(*) FROM deliveries WHERE status = 'in_flight' AND lease_expires_at <= :now);
