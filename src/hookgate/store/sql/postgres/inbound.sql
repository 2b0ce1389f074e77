-- Named queries of the inbound idempotency and rate-limit stores (PostgreSQL). Parameters are :named.

-- name: claim_event
-- One row: (true, false) when this call claimed the key (new, or its lease/TTL had run out), (false, done)
-- for a live row. No row when the live row was committed after this statement's snapshot (we waited for it
-- on the unique index) or vanished meanwhile: the caller simply asks again.
WITH claimed AS (
    INSERT INTO inbound_events AS e (key, done, expires_at) VALUES (:key, false, :lease_until::float8)
    ON CONFLICT (key) DO UPDATE SET done = false, expires_at = EXCLUDED.expires_at
    WHERE e.expires_at <= :now::float8
    RETURNING true AS claimed, false AS done
)
SELECT claimed, done FROM claimed
UNION ALL
SELECT false, done FROM inbound_events
WHERE key = :key AND expires_at > :now::float8 AND NOT EXISTS (SELECT 1 FROM claimed);

-- name: complete_event
INSERT INTO inbound_events (key, done, expires_at) VALUES (:key, true, :expires_at::float8)
ON CONFLICT (key) DO UPDATE SET done = true, expires_at = EXCLUDED.expires_at;

-- name: release_event
DELETE FROM inbound_events WHERE key = :key;

-- name: purge_events
DELETE FROM inbound_events WHERE expires_at <= :now::float8;

-- name: purge_events_batch
-- The outer condition is re-checked on the latest row version: a row claimed again meanwhile survives.
DELETE FROM inbound_events WHERE key IN
    (SELECT key FROM inbound_events WHERE expires_at <= :now::float8 LIMIT :batch)
AND expires_at <= :now::float8;

-- name: hit_bucket
-- A new bucket starts full; an existing one refills by
-- R = LEAST(burst, tokens + GREATEST(0, now - updated_at) * rate), as in bucket_after, then gives a token if
-- R >= 1. (R is spelled out three times: SET expressions cannot name each other.)
INSERT INTO inbound_buckets AS b (key, tokens, updated_at, allowed)
VALUES (
    :key,
    CASE WHEN :burst::float8 >= 1 THEN :burst::float8 - 1 ELSE :burst::float8 END,
    :now::float8,
    :burst::float8 >= 1
)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE
        WHEN LEAST(:burst::float8, b.tokens + GREATEST(0::float8, :now::float8 - b.updated_at) * :rate::float8) >= 1
        THEN LEAST(:burst::float8, b.tokens + GREATEST(0::float8, :now::float8 - b.updated_at) * :rate::float8) - 1
        ELSE LEAST(:burst::float8, b.tokens + GREATEST(0::float8, :now::float8 - b.updated_at) * :rate::float8)
    END,
    allowed = LEAST(:burst::float8, b.tokens + GREATEST(0::float8, :now::float8 - b.updated_at) * :rate::float8) >= 1,
    updated_at = GREATEST(b.updated_at, :now::float8)
RETURNING tokens, allowed;

-- name: purge_buckets
DELETE FROM inbound_buckets WHERE updated_at <= :before::float8;

-- name: purge_buckets_batch
-- The outer condition is re-checked on the latest row version, as for purge_events_batch.
DELETE FROM inbound_buckets WHERE key IN
    (SELECT key FROM inbound_buckets WHERE updated_at <= :before::float8 LIMIT :batch)
AND updated_at <= :before::float8;
