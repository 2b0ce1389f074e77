-- hookgate schema, version 5 (SQLite): the inbound idempotency keys and rate-limit buckets. IF NOT EXISTS because
-- inbound stores created these tables themselves before they ran the migrations.
CREATE TABLE IF NOT EXISTS inbound_events (key TEXT PRIMARY KEY, done INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS inbound_events_expires_at ON inbound_events (expires_at);
CREATE TABLE IF NOT EXISTS inbound_buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS inbound_buckets_updated_at ON inbound_buckets (updated_at);
