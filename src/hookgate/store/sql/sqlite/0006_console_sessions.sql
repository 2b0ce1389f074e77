-- hookgate schema, version 6 (SQLite): web console sessions (the dashboard's and the consumer
-- portal's); only SHA-256 hashes of the link and the session cookie are stored.
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    link_hash BLOB UNIQUE,
    session_hash BLOB UNIQUE,
    created_by TEXT,
    opened_at REAL,
    revoked_at REAL
);
CREATE INDEX console_sessions_scope ON console_sessions (scope, created_at);
