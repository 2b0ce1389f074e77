-- hookgate schema, version 5 (PostgreSQL): the inbound idempotency keys and rate-limit buckets. IF NOT EXISTS
-- because inbound stores created these tables themselves before they ran the migrations.
CREATE TABLE IF NOT EXISTS inbound_events (
    key TEXT PRIMARY KEY,
    done BOOLEAN NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS inbound_events_expires_at ON inbound_events (expires_at);
-- allowed: the outcome of the last hit, so one upsert can both apply the step and report it
CREATE TABLE IF NOT EXISTS inbound_buckets (
    key TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    allowed BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX IF NOT EXISTS inbound_buckets_updated_at ON inbound_buckets (updated_at);
