-- hookgate schema, version 3 (SQLite): the management API's records and the indexes of its listings.
-- API tokens: only the SHA-256 of a token is stored; scope is 'admin' or one application's id.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);

CREATE TABLE event_types (
    app_id TEXT NOT NULL REFERENCES applications(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    archived INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- inbound sources managed through the API; their settings hold secrets, so they are sealed JSON
CREATE TABLE inbound_sources (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config_sealed BLOB NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- listings, newest first by (created_at, id)
CREATE INDEX applications_created ON applications(created_at, id);
CREATE INDEX messages_app ON messages(app_id, created_at, id);
CREATE INDEX messages_app_type ON messages(app_id, event_type, created_at, id);
-- (endpoint_id, created_at) becomes (endpoint_id, created_at, id): the same prefix for recover, plus paging
DROP INDEX deliveries_endpoint;
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, created_at, id);
