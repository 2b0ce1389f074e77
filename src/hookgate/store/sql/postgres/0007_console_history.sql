-- hookgate schema, version 7 (PostgreSQL): what the console shows from durable data. Each attempt keeps the
-- request headers it sent, signatures and credentials already redacted (JSON, NULL for attempts recorded
-- before), the overview's charts read attempts by start time, and the covering index answers them without
-- touching the table.
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
CREATE INDEX attempts_started ON attempts (started_at, status_code, duration_ms);
