-- hookgate schema, version 4 (PostgreSQL): endpoints carry a version, bumped by every change of their configuration or
-- enablement, so a write of a copy read earlier is refused instead of undoing a concurrent change.
ALTER TABLE endpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
