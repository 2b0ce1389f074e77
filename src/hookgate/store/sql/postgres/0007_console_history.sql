-- hookgate schema, version 7 (PostgreSQL): what the console shows from durable data. Each attempt keeps the
-- request headers it sent, signatures and credentials already redacted (JSON, NULL for attempts recorded
-- before), the overview's charts read attempts by start time, and the covering index answers them without
-- touching the table. Inbound sources keep their recent decisions (a bounded number per source, pruned as
-- they are written) and per-minute counts by reason (pruned after a day).
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
CREATE INDEX attempts_started ON attempts (started_at, status_code, duration_ms);
CREATE TABLE inbound_decisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    status INTEGER,
    peer TEXT
);
CREATE INDEX inbound_decisions_source ON inbound_decisions (source, id);
CREATE TABLE inbound_decision_counts (
    source TEXT NOT NULL,
    minute BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (source, minute, outcome, reason)
);
CREATE INDEX inbound_decision_counts_minute ON inbound_decision_counts (minute);
