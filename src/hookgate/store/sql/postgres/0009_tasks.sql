-- hookgate schema, version 11 (postgres): bulk recovery tasks (resend, replay_missing, cancel_pending) run in batches
-- by any worker under a lease, resumable from their cursor; deliveries a task cancels say why.
ALTER TABLE deliveries ADD COLUMN dead_reason TEXT;
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
