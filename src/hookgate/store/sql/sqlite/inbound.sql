-- Named queries of the inbound idempotency and rate-limit stores (SQLite). Parameters are :named.

-- name: claim_event
-- Insert the claim, or take over a row whose lease or TTL has run out; a live row returns nothing.
INSERT INTO inbound_events (key, done, expires_at) VALUES (:key, 0, :lease_until)
ON CONFLICT (key) DO UPDATE SET done = 0, expires_at = excluded.expires_at
WHERE inbound_events.expires_at <= :now
RETURNING key;

-- name: event_done
SELECT done FROM inbound_events WHERE key = :key;

-- name: complete_event
INSERT INTO inbound_events (key, done, expires_at) VALUES (:key, 1, :expires_at)
ON CONFLICT (key) DO UPDATE SET done = 1, expires_at = excluded.expires_at;

-- name: release_event
DELETE FROM inbound_events WHERE key = :key;

-- name: purge_events
DELETE FROM inbound_events WHERE expires_at <= :now;

-- name: purge_events_batch
DELETE FROM inbound_events WHERE rowid IN
    (SELECT rowid FROM inbound_events WHERE expires_at <= :now LIMIT :batch);

-- name: get_bucket
SELECT tokens, updated_at FROM inbound_buckets WHERE key = :key;

-- name: save_bucket
INSERT INTO inbound_buckets (key, tokens, updated_at) VALUES (:key, :tokens, :updated_at)
ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at;

-- name: purge_buckets
DELETE FROM inbound_buckets WHERE updated_at <= :before;

-- name: purge_buckets_batch
DELETE FROM inbound_buckets WHERE rowid IN
    (SELECT rowid FROM inbound_buckets WHERE updated_at <= :before LIMIT :batch);
