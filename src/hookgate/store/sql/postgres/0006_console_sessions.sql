-- hookgate schema, version 6 (PostgreSQL): web console sessions (the dashboard's and the consumer
-- portal's); only SHA-256 hashes of the link and the session cookie are stored.
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
