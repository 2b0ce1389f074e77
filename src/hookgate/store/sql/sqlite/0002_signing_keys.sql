-- hookgate schema, version 2 (SQLite): hookgate's own JWS signing key ring, private keys sealed.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    alg TEXT NOT NULL,
    private_sealed BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'previous', 'retired')),
    created_at REAL NOT NULL,
    activated_at REAL,
    retired_at REAL
);
-- exactly one key signs: at most one row may be active
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(status) WHERE status = 'active';
