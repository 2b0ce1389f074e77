-- hookgate schema, version 8 (SQLite): a deleted endpoint is kept as a tombstone (deleted_at set, disabled, its
-- secrets dropped) so the deliveries and attempts that name it stay readable as history.
ALTER TABLE endpoints ADD COLUMN deleted_at REAL;
