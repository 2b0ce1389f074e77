-- hookgate schema as declared (PostgreSQL): what applying every migration in order must produce.
CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX applications_created ON applications(created_at, id COLLATE "C");

CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(id),
    url TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    event_types TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    scheme TEXT NOT NULL,
    secrets_sealed BYTEA NOT NULL,
    headers TEXT NOT NULL,
    timeout_s DOUBLE PRECISION NOT NULL,
    rate_limit_per_s DOUBLE PRECISION,
    max_concurrency INTEGER,
    retry_schedule TEXT,
    allow_insecure BOOLEAN NOT NULL,
    settings TEXT NOT NULL,
    failing_since DOUBLE PRECISION,
    version INTEGER NOT NULL DEFAULT 0,
    deleted_at DOUBLE PRECISION
);
CREATE INDEX endpoints_app ON endpoints(app_id, created_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(id),
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    idempotency_key TEXT,
    -- when the payload was expunged (it is then empty); NULL: not expunged
    expunged_at DOUBLE PRECISION
);
CREATE INDEX messages_idempotency ON messages(app_id, idempotency_key, created_at) WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_app ON messages(app_id, created_at, id COLLATE "C");
CREATE INDEX messages_app_type ON messages(app_id, event_type, created_at, id COLLATE "C");

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id),
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id),
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    dead_reason TEXT
);
CREATE INDEX deliveries_message ON deliveries(message_id);
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, created_at, id COLLATE "C");
-- the claim scan: retryable work by due time, in-flight work by lease expiry
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_lease ON deliveries(lease_expires_at) WHERE status = 'in_flight';
-- an endpoint's failed and dead deliveries (bulk resend, recover, the listing's filter), newest first
CREATE INDEX deliveries_endpoint_failed ON deliveries(endpoint_id, status, created_at, id COLLATE "C")
    WHERE status IN ('failed', 'dead');

CREATE TABLE attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries(id),
    started_at DOUBLE PRECISION NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    status_code INTEGER,
    response_excerpt TEXT NOT NULL,
    error_class TEXT,
    outcome TEXT NOT NULL,
    request_headers TEXT
);
-- request_headers: JSON, signatures and credentials redacted, NULL before migration 0007
CREATE INDEX attempts_delivery ON attempts(delivery_id, id);
-- the overview's charts: attempts by start time, answered from the index alone
CREATE INDEX attempts_started ON attempts (started_at, status_code, duration_ms);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    alg TEXT NOT NULL,
    private_sealed BYTEA NOT NULL,
    public_jwk TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'previous', 'retired')),
    created_at DOUBLE PRECISION NOT NULL,
    activated_at DOUBLE PRECISION,
    retired_at DOUBLE PRECISION
);
-- exactly one key signs: at most one row may be active
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(status) WHERE status = 'active';

-- API tokens: only the SHA-256 of a token is stored; scope is 'admin' or one application's id.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);

CREATE TABLE event_types (
    app_id TEXT NOT NULL REFERENCES applications(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    archived BOOLEAN NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- inbound sources managed through the API; their settings hold secrets, so they are sealed JSON
CREATE TABLE inbound_sources (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config_sealed BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

-- inbound idempotency keys (done: false while a delivery is in progress) and rate-limit token buckets
CREATE TABLE inbound_events (
    key TEXT PRIMARY KEY,
    done BOOLEAN NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX inbound_events_expires_at ON inbound_events (expires_at);
CREATE TABLE inbound_buckets (
    key TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    allowed BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX inbound_buckets_updated_at ON inbound_buckets (updated_at);

-- web console sessions (dashboard and consumer portal): only hashes of the link and the session cookie
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    link_hash BYTEA UNIQUE,
    session_hash BYTEA UNIQUE,
    created_by TEXT,
    opened_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION
);
CREATE INDEX console_sessions_scope ON console_sessions (scope, created_at);

-- inbound sources' recent decisions (bounded per source) and per-minute counts by outcome and reason
CREATE TABLE inbound_decisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    status INTEGER,
    peer TEXT
);
CREATE INDEX inbound_decisions_source ON inbound_decisions (source, id);
CREATE TABLE inbound_decision_counts (
    source TEXT NOT NULL,
    minute BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (source, minute, outcome, reason)
);
CREATE INDEX inbound_decision_counts_minute ON inbound_decision_counts (minute);

-- bulk recovery tasks (services/tasks.py), run in batches under a lease by any worker
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(id),
    endpoint_id TEXT REFERENCES endpoints(id),
    kind TEXT NOT NULL CHECK (kind IN ('resend', 'replay_missing', 'cancel_pending')),
    statuses TEXT NOT NULL,
    status_class TEXT,
    event_types TEXT NOT NULL,
    since DOUBLE PRECISION,
    until DOUBLE PRECISION,
    due_before DOUBLE PRECISION,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'cancelled', 'failed')),
    matched BIGINT NOT NULL,
    done BIGINT NOT NULL,
    error TEXT,
    cursor_at DOUBLE PRECISION,
    cursor_id TEXT,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX tasks_app ON tasks (app_id, created_at, id COLLATE "C");
-- the runners' claim scan: only unfinished tasks
CREATE INDEX tasks_open ON tasks (created_at) WHERE state IN ('pending', 'running');
