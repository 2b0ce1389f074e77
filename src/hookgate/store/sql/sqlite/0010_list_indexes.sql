-- hookgate schema, version 9 (SQLite): an endpoint's failed and dead deliveries, newest first. The bulk
-- resend of an endpoint's dead or failed deliveries, recover, and the endpoint listing filtered to one of
-- those statuses read only the rows they return instead of every delivery the endpoint ever had. Partial:
-- a delivery enters it only when an attempt fails, so the claim and the completion of a delivered one
-- (pending -> in_flight -> delivered) never write to it, and the claim cannot be tempted away from
-- deliveries_due by it. tests/store/test_query_plans.py plans every list and filter query against a large
-- history and fails on a full scan of a large table.
CREATE INDEX deliveries_endpoint_failed ON deliveries(endpoint_id, status, created_at, id)
    WHERE status IN ('failed', 'dead');
