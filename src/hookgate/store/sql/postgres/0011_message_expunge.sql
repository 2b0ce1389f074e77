-- hookgate schema, version 11 (postgres): a message's payload can be expunged on demand (GDPR erasure). The
-- record of delivery stays (the message, its deliveries and attempts); the payload becomes an empty body and
-- expunged_at says when. NULL: not expunged.
ALTER TABLE messages ADD COLUMN expunged_at DOUBLE PRECISION;
