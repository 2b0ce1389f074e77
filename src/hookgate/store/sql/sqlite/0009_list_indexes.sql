-- hookgate schema, version 9 (SQLite): deliveries by status, then endpoint and newest first. The status
-- filters read only the rows they return: an endpoint's deliveries of one status (its listing's filter, the
-- bulk resend of its dead or failed ones, recover, and killing its pending work when it is disabled), and the
-- deliveries of one status a message listing filtered by status looks for. tests/store/test_query_plans.py
-- plans every list and filter query against a large history and fails on a full scan of a large table.
CREATE INDEX deliveries_status ON deliveries(status, endpoint_id, created_at, id);
