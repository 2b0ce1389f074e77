-- hookgate schema, version 9 (SQLite): an endpoint's deliveries by status, newest first. The
-- status filters on one endpoint read only the rows they return: its listing's filter (and the bulk resend of
-- its dead or failed deliveries, which pages through it), recover, and killing its pending work when it is
-- disabled. The endpoint leads, not the status: led by status, the index would tempt an unanalyzed SQLite
-- planner away from deliveries_due in the claim (then it sorts the whole backlog on every claim).
-- tests/store/test_query_plans.py plans every list and filter query against a large history and fails on
-- a full scan of a large table.
CREATE INDEX deliveries_endpoint_status ON deliveries(endpoint_id, status, created_at, id);
