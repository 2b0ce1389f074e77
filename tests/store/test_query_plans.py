"""No named query of the SQL stores reads a large table end to end: each is planned (SQLite's EXPLAIN QUERY
PLAN, PostgreSQL's EXPLAIN) against a large history with the planner's statistics, and a full scan of a large
table fails the test unless the table below allows it for that query, with the reason.

The table (CASES) has a row for every query that reads or changes stored rows, in every ``queries.sql`` and
``inbound.sql``: a query added without one fails `test_every_query_that_reads_rows_has_a_row`, so the rule
holds for the queries still to come. Only a plain ``INSERT ... VALUES`` (it reads nothing) needs no row.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hookgate.store._pg import Query
from hookgate.store.postgres import migrate_postgres
from hookgate.store.sql import load_queries
from hookgate.store.sqlite import migrate_sqlite
from tests.store.large_history import HOT_APP, HOT_ENDPOINT, LARGE, NOW, SMALL, T0, load_postgres, load_sqlite
from tests.support import postgres_dsn

FILES = ("queries.sql", "inbound.sql")
HOT_MESSAGE = "msg_000010"
HOT_DELIVERY = "dlv_000010_0"


@dataclass(frozen=True)
class Case:
    """One way a query is called: its parameters (over DEFAULTS) and the large tables it may read whole."""

    params: dict[str, Any] = field(default_factory=dict)
    allow: dict[str, str] = field(default_factory=dict)  # table -> why a full read of it is right here
    postgres: dict[str, Any] = field(default_factory=dict)  # where PostgreSQL's spelling takes other values
    uses: tuple[str, ...] = ()  # indexes the plan must read (the claim's O(batch), the partial indexes)


# Parameters whose value hardly steers a plan; a case overrides them where they do.
DEFAULTS: dict[str, Any] = {
    "now": NOW,
    "limit": 51,
    "c_at": math.inf,
    "c_id": "",
    "since": -math.inf,
    "until": math.inf,
    "status": None,
    "event_type": None,
    "reason": None,
    "before": 2**62,
    "owner": "w",
    "lease_until": NOW + 30,
    "blob": b"x",
    "name": "n",
    "version": 0,
    "enabled": True,
    "created_at": NOW,
    "updated_at": NOW,
}
_ENDPOINT = {"id": HOT_ENDPOINT}
_ENDPOINT_VALUES = {
    "url": "https://h.example/hook", "event_types": "[]", "secrets_sealed": b"x", "headers": "{}",
    "timeout_s": 15.0, "rate_limit_per_s": None, "max_concurrency": None, "retry_schedule": None,
    "allow_insecure": False, "settings": "{}",
}  # fmt: skip
_RESULT = {
    "delivery_id": HOT_DELIVERY, "status": "delivered", "next_attempt_at": NOW, "attempted": 1,
    "started_at": NOW, "delivery_ids": [HOT_DELIVERY], "owners": ["w"], "statuses": ["delivered"],
    "next_attempt_ats": [NOW], "started_ats": [NOW], "durations_ms": [1.0], "status_codes": [200],
    "response_excerpts": [""], "error_classes": [None], "outcomes": ["x"], "request_headers": ["{}"],
}  # fmt: skip
_REASON_RESEAL = "reseal rewrites every sealed secret when the operator rotates the master key: a full pass"

_TASK = {"id": "task_1", "app_id": HOT_APP, "n": 1, "cursor_at": NOW, "cursor_id": "x", "state": "running"}
_TASK_SCOPE = {
    "app_id": HOT_APP, "endpoint_id": HOT_ENDPOINT, "event_types": None, "snapshot": NOW, "due_before": NOW,
    "status_class": None,
}  # fmt: skip
_REASON_TASK_COUNT = (
    "a task's count runs once, when the task (or its dry run) is created, over one application's "
    "history; for the hot application that is a large share of the table and PostgreSQL reads it whole "
    "(SQLite walks the application's index); the batches themselves are index walks with a limit"
)
_TASK_PG = {"statuses": ["dead", "failed"], "ids": [HOT_DELIVERY]}
_TASK_SQLITE = {"statuses": '["dead", "failed"]', "ids": f'["{HOT_DELIVERY}"]'}

CASES: dict[str, list[Case]] = {
    # bulk recovery tasks (the tasks table is small; their selections walk one application's deliveries)
    "get_task": [Case({"id": "task_1"})],
    "lock_task": [Case({"id": "task_1"})],
    "cancel_task": [Case({"id": "task_1"})],
    "task_progress": [Case(_TASK)],
    "fail_task": [Case({"id": "task_1", "error": "x"})],
    "list_tasks": [Case({"app_id": HOT_APP})],
    "claim_task": [Case()],
    "task_resend_select": [Case({**_TASK_SCOPE, **_TASK_SQLITE}, postgres=_TASK_PG)],
    "task_resend_count": [
        Case({**_TASK_SCOPE, **_TASK_SQLITE}, postgres=_TASK_PG, allow={"messages": _REASON_TASK_COUNT})
    ],
    "task_resend_apply": [Case({**_TASK_SCOPE, **_TASK_SQLITE}, postgres=_TASK_PG)],
    "task_cancel_select": [Case(_TASK_SCOPE)],
    "task_cancel_count": [Case(_TASK_SCOPE, allow={"messages": _REASON_TASK_COUNT})],
    "task_cancel_apply": [Case({**_TASK_SQLITE, "reason": "x"}, postgres=_TASK_PG)],
    "task_missing_select": [Case(_TASK_SCOPE)],
    "task_missing_count": [
        Case(_TASK_SCOPE, allow={"messages": _REASON_TASK_COUNT, "deliveries": _REASON_TASK_COUNT})
    ],
    # applications and endpoints
    "get_application": [Case({"id": HOT_APP})],
    "rename_application": [Case({"id": HOT_APP})],
    "update_endpoint": [Case({**_ENDPOINT, **_ENDPOINT_VALUES})],
    "get_endpoint": [Case(_ENDPOINT)],
    "list_endpoints": [Case({"app_id": HOT_APP})],
    "delete_endpoint": [Case({**_ENDPOINT, "enabled": False})],
    "kill_pending_of_endpoint": [Case(_ENDPOINT)],
    "endpoint_failing": [Case(_ENDPOINT)],
    "endpoint_healthy": [Case(_ENDPOINT)],
    "set_endpoint_enabled": [Case({**_ENDPOINT, "version": None}), Case({**_ENDPOINT, "version": 3})],
    "fan_out_candidates": [Case({"app_id": HOT_APP})],
    # messages, deliveries, attempts
    "find_idempotent": [Case({"app_id": HOT_APP, "key": "key-9", "since": NOW - 86400})],
    "get_message": [Case({"id": HOT_MESSAGE})],
    "list_deliveries": [Case({"message_id": HOT_MESSAGE})],
    "get_delivery": [Case({"id": HOT_DELIVERY})],
    "list_attempts": [Case({"delivery_id": HOT_DELIVERY})],
    "resend": [Case({"id": HOT_DELIVERY})],
    "recover": [
        Case({"endpoint_id": HOT_ENDPOINT, "since": NOW - 3600}, uses=("deliveries_endpoint_failed",))
    ],
    "list_endpoint_attempts": [Case({"endpoint_id": HOT_ENDPOINT}), Case({"endpoint_id": "ep_05000"})],
    "list_message_attempts": [Case({"message_id": HOT_MESSAGE})],
    # expunging payloads: one application's messages from a cursor; one batch's deliveries and attempts
    "expunge_select": [
        Case({"app_id": HOT_APP, "before": NOW - 3600, "c_at": -math.inf}),
        Case({"app_id": HOT_APP, "before": NOW, "c_at": NOW - 5000, "c_id": "msg_x"}),
    ],
    "expunge_apply": [Case({"ids": [HOT_MESSAGE], "empty": b""})],
    "expunge_kill": [Case({"ids": [HOT_MESSAGE], "reason": "x"})],
    "expunge_excerpts": [Case({"ids": [HOT_MESSAGE]})],
    # the work queue
    "claim": [Case(uses=("deliveries_due", "deliveries_lease"))],
    "claimed_messages": [Case({"ids": [HOT_MESSAGE, "msg_000011"]})],
    "claimed_endpoints": [Case({"ids": [HOT_ENDPOINT]})],
    "leases": [Case({"ids": [HOT_DELIVERY]})],
    "complete": [Case(_RESULT, postgres={"attempted": [1]})],  # PostgreSQL completes a batch as arrays
    "release": [Case({"ids": [HOT_DELIVERY]})],
    "next_due_at": [Case(uses=("deliveries_due", "deliveries_lease"))],
    "count_due": [Case(uses=("deliveries_due", "deliveries_lease"))],
    # signing keys, tokens, sealed records
    "list_signing_keys": [Case()],
    "demote_active_signing_key": [Case({"kid": "k1"})],
    "set_signing_key_status": [Case({"kid": "k1", "status": "active"})],
    "set_endpoint_secrets_sealed": [Case(_ENDPOINT)],
    "set_source_config_sealed": [Case({"id": "src1"})],
    "set_signing_key_private_sealed": [Case({"kid": "k1"})],
    "sealed_sources": [Case()],
    "sealed_endpoints": [Case(allow={"endpoints": _REASON_RESEAL})],  # an index walk on SQLite
    "sealed_signing_keys": [Case()],
    "find_api_token": [Case({"token_hash": b"h01"})],
    "revoke_api_token": [Case({"id": "tok_1"})],
    "list_api_tokens": [Case()],
    # management API listings
    "put_event_type": [Case({"app_id": HOT_APP, "name": "order.1", "description": "", "archived": False})],
    "list_event_types": [Case({"app_id": HOT_APP})],
    "list_applications": [Case(), Case({"c_at": T0 + 1000, "c_id": "app_1000"})],
    "list_messages": [
        Case({"app_id": HOT_APP}),
        Case(
            {"app_id": HOT_APP, "since": NOW - 3600, "until": NOW - 60, "c_at": NOW - 1000, "c_id": "msg_x"}
        ),
        Case({"app_id": HOT_APP, "status": "dead"}),
        Case({"app_id": "app_0500", "status": "failed"}),
    ],
    "list_messages_of_type": [
        Case({"app_id": HOT_APP, "event_type": "order.3"}),
        Case({"app_id": HOT_APP, "event_type": "order.3", "since": NOW - 3600, "status": "dead"}),
    ],
    "list_messages_by_key": [
        Case({"app_id": HOT_APP, "idempotency_key": "key-9"}),
        Case({"app_id": HOT_APP, "idempotency_key": "key-9", "event_type": "order.9", "status": "delivered"}),
    ],
    "list_endpoint_deliveries": [
        Case({"endpoint_id": HOT_ENDPOINT}),
        Case({"endpoint_id": HOT_ENDPOINT, "c_at": NOW - 5000, "c_id": "dlv_x"}),
        Case({"endpoint_id": HOT_ENDPOINT, "status": "pending"}),
        Case({"endpoint_id": HOT_ENDPOINT, "status": "delivered"}),
    ],
    "list_endpoint_failed_deliveries": [  # also the bulk resend's selection
        Case({"endpoint_id": HOT_ENDPOINT, "status": "dead"}, uses=("deliveries_endpoint_failed",)),
        # (PostgreSQL may walk deliveries_due here, which holds the failed ones too: estimated cheaper)
        Case({"endpoint_id": HOT_ENDPOINT, "status": "failed", "c_at": NOW - 5000, "c_id": "dlv_x"}),
    ],
    "put_source": [Case({"id": "src1", "config_sealed": b"x"})],
    "get_source": [Case({"id": "src1"})],
    "delete_source": [Case({"id": "src1"})],
    "list_sources": [Case()],
    # web console sessions and the overview
    "open_console_session": [Case({"link_hash": b"l00042", "session_hash": b"new"})],
    "find_console_session": [Case({"session_hash": b"s00042"})],
    "list_console_sessions": [Case({"scope": HOT_APP}), Case({"scope": "admin"})],
    "revoke_console_session": [Case({"id": "cs_00042"})],
    "attempt_buckets": [Case({"since": NOW - 3600, "until": NOW, "step": 60})],
    # inbound sources' decisions
    "prune_inbound_decisions": [Case({"source": "src1", "keep": 1000})],
    "count_inbound_decisions": [
        Case({"source": "src1", "minute": int(NOW // 60), "outcome": "accepted", "reason": "ok", "count": 1})
    ],
    "prune_inbound_decision_counts": [Case({"before": int((NOW - 86400) // 60)})],
    "inbound_decision_counts": [Case({"source": "src1", "since": int((NOW - 3600) // 60)})],
    "list_inbound_decisions": [Case({"source": "src1"}), Case({"source": "src1", "reason": "r3"})],
    # inbound.sql: idempotency keys and rate-limit buckets of the inbound stores
    "claim_event": [Case({"key": "ev42"})],
    "event_done": [Case({"key": "ev42"})],
    "complete_event": [Case({"key": "ev42", "expires_at": NOW})],
    "release_event": [Case({"key": "ev42"})],
    "purge_events": [Case({"now": T0 + 100})],
    "purge_events_batch": [Case({"now": T0 + 100, "batch": 500})],
    "get_bucket": [Case({"key": "b42"})],
    "save_bucket": [Case({"key": "b42", "tokens": 1.0})],
    "hit_bucket": [Case({"key": "b42", "burst": 10.0, "rate": 1.0})],
    "purge_buckets": [Case({"before": T0 + 100})],
    "purge_buckets_batch": [Case({"before": T0 + 100, "batch": 500})],
}

_READS = re.compile(r"\b(FROM|WHERE|UPDATE|DELETE)\b", re.IGNORECASE)
_PARAM = re.compile(r"(?<!:):([a-z_]+)")
_ALIAS = re.compile(r"\b(?:FROM|JOIN|UPDATE)\s+([a-z_]+)\s+AS\s+([a-z_]+)", re.IGNORECASE)


def _code(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def queries_that_read(dialect: str) -> dict[str, str]:
    """The named queries of a dialect that read or change stored rows (all but a plain INSERT ... VALUES)."""
    found = {}
    for filename in FILES:
        for name, sql in load_queries(dialect, filename).items():
            if _READS.search(_code(sql)):
                found[name] = sql
    return found


def params_of(sql: str, case: Case, dialect: str) -> dict[str, Any]:
    wanted = set(_PARAM.findall(_code(sql)))
    given = {**DEFAULTS, **case.params, **(case.postgres if dialect == "postgres" else {})}
    missing = wanted - given.keys()
    assert not missing, f"the case gives no value for {sorted(missing)}"
    return {k: given[k] for k in wanted}


def full_scans_sqlite(
    conn: sqlite3.Connection, sql: str, params: dict[str, Any]
) -> tuple[list[str], set[str]]:
    """(the plan's lines, the tables read whole): ``SCAN t`` without an index; aliases resolved to tables."""
    params = {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
    aliases = {alias: table for table, alias in _ALIAS.findall(_code(sql))}
    tables = tables_sqlite(conn)
    scanned = set()
    for line in plan:
        match = re.match(r"SCAN (\w+)", line)
        if match and not re.search(r"USING (COVERING )?INDEX|VIRTUAL TABLE", line):
            scanned.add(aliases.get(match.group(1), match.group(1)))
    return plan, scanned & tables  # not a subquery's or a CTE's rows, nor SQLite's "CONSTANT ROW"


def tables_sqlite(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'schema_migrations'"
    ).fetchall()
    return {r[0] for r in rows}


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


async def full_scans_postgres(
    conn: asyncpg.Connection, sql: str, params: dict[str, Any]
) -> tuple[list[str], set[str]]:
    """(the plan's scan nodes, the tables read whole): every ``Seq Scan`` node's relation."""
    query = Query(_code(sql))  # a :name in a comment is no parameter
    (raw,) = await conn.fetchrow("EXPLAIN (FORMAT JSON) " + query.sql, *query.args(params))
    nodes = _nodes(json.loads(raw)[0]["Plan"])
    lines = [
        f"{n['Node Type']} {n.get('Relation Name', '')} {n.get('Index Name', '')}".strip()
        for n in nodes
        if "Scan" in n["Node Type"]
    ]
    return lines, {n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"}


def violations(name: str, case: Case, scanned: set[str], plan: list[str]) -> list[str]:
    bad = sorted(t for t in scanned if t not in SMALL and t not in case.allow)
    unused = [index for index in case.uses if not any(re.search(rf"\b{index}\b", line) for line in plan)]
    problems = [f"full scan of {', '.join(bad)}"] if bad else []
    problems += [f"does not read {', '.join(unused)}"] if unused else []
    return [f"{name} {case.params}: {'; '.join(problems)}\n    " + "\n    ".join(plan)] if problems else []


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_every_query_that_reads_rows_has_a_row(dialect: str) -> None:
    names = set(queries_that_read(dialect))
    assert {"list_messages", "claim", "purge_events"} <= names
    missing = sorted(names - CASES.keys())
    assert not missing, (
        f"queries without a row in CASES (give parameters, and reasons for any full scan): {missing}"
    )


def test_the_table_has_no_rows_for_queries_that_are_gone() -> None:
    names = set(queries_that_read("sqlite")) | set(queries_that_read("postgres"))
    assert not sorted(CASES.keys() - names)
    for cases in CASES.values():
        for case in cases:
            assert all(table in LARGE and reason for table, reason in case.allow.items())


def test_sqlite_plans_read_no_large_table_whole(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "large.db", isolation_level=None)
    try:
        migrate_sqlite(conn)
        load_sqlite(conn, analyze=False)
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] >= 40_000
        # every table is either filled large or declared small (with why): a new table must be classified
        assert tables_sqlite(conn) == {*LARGE, *SMALL}
        failures = []
        # the store never runs ANALYZE, so its planner has no statistics: plan as it runs, then with them
        for statistics in ("without statistics", "after ANALYZE"):
            if statistics == "after ANALYZE":
                conn.execute("ANALYZE")
            for name, sql in queries_that_read("sqlite").items():
                for case in CASES[name]:
                    plan, scanned = full_scans_sqlite(conn, sql, params_of(sql, case, "sqlite"))
                    failures += [f"({statistics}) {v}" for v in violations(name, case, scanned, plan)]
        assert not failures, "\n".join(failures)
        # the rule sees a full scan when there is one (the checks above cannot pass for want of seeing)
        probe = "SELECT * FROM deliveries AS d WHERE d.updated_at = :now"
        assert full_scans_sqlite(conn, probe, {"now": NOW})[1] == {"deliveries"}
    finally:
        conn.close()


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async for value in postgres_dsn():
        yield value


@pytest.mark.postgres
async def test_postgres_plans_read_no_large_table_whole(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate_postgres(conn)
        await load_postgres(conn)
        assert await conn.fetchval("SELECT count(*) FROM messages") >= 40_000
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname = current_schema() AND tablename != 'schema_migrations'"
        )
        assert {r[0] for r in tables} == {*LARGE, *SMALL}
        failures = []
        for name, sql in queries_that_read("postgres").items():
            for case in CASES[name]:
                plan, scanned = await full_scans_postgres(conn, sql, params_of(sql, case, "postgres"))
                failures += violations(name, case, scanned, plan)
        assert not failures, "\n".join(failures)
        probe = "SELECT * FROM deliveries AS d WHERE d.updated_at = :now"
        assert (await full_scans_postgres(conn, probe, {"now": NOW}))[1] == {"deliveries"}
    finally:
        await conn.close()
