"""PostgreSQL specifics: migrations give the declared schema; concurrent claimers never share a delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hookgate.config import EndpointConfig
from hookgate.errors import NotFoundError, StoreError
from hookgate.models import Application, Endpoint, Message, new_id
from hookgate.store._pg import pg_queries
from hookgate.store.postgres import PostgresStore, migrate_postgres
from hookgate.store.sql import declared_schema, migrations
from tests.support import postgres_dsn

asyncpg = pytest.importorskip("asyncpg")
pytestmark = pytest.mark.postgres

T0 = 1_700_000_000.0


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async for value in postgres_dsn():
        yield value


async def app_with_endpoint(store: PostgresStore, name: str) -> Application:
    """An application with one endpoint subscribed to everything: what a publish needs to create work."""
    app = await store.create_application(Application(id=new_id("app"), name=name, created_at=T0))
    endpoint = Endpoint(
        id=new_id("ep"),
        app_id=app.id,
        config=EndpointConfig(url="https://x.example.test/"),
        created_at=T0,
        updated_at=T0,
    )
    await store.create_endpoint(endpoint)
    return app


async def columns(conn: asyncpg.Connection) -> list[tuple[str, str, str, str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name != 'schema_migrations'"
        " ORDER BY table_name, ordinal_position"
    )
    return [tuple(r) for r in rows]


async def indexes(conn: asyncpg.Connection) -> set[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT indexname, regexp_replace(indexdef, ' ON [a-z0-9_]+\\.', ' ON ') FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename != 'schema_migrations'"
    )
    return {(r[0], r[1]) for r in rows}


async def constraints(conn: asyncpg.Connection) -> set[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = current_schema()::regnamespace"
        " AND conrelid::regclass::text != 'schema_migrations'"
    )
    return {(r[0], r[1], r[2]) for r in rows}


async def test_migrated_schema_equals_declared_schema() -> None:
    async for migrated_dsn in postgres_dsn():
        async for declared_dsn in postgres_dsn():
            migrated = await asyncpg.connect(migrated_dsn)
            declared = await asyncpg.connect(declared_dsn)
            try:
                assert await migrate_postgres(migrated) == [m.version for m in migrations("postgres")]
                assert await migrate_postgres(migrated) == []
                await declared.execute(declared_schema("postgres"))
                assert await columns(migrated) == await columns(declared)
                assert await indexes(migrated) == await indexes(declared)
                assert await constraints(migrated) == await constraints(declared)
                assert any(c[0] == "deliveries" for c in await columns(migrated))
            finally:
                await migrated.close()
                await declared.close()


async def test_every_named_query_prepares_against_the_schema(dsn: str) -> None:
    """The shared ``common/queries.sql`` and PostgreSQL's own queries (and the inbound ones) compile."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate_postgres(conn)
        for filename in ("queries.sql", "inbound.sql"):
            queries = pg_queries(filename)
            assert queries
            for query in queries.values():
                await conn.prepare(query.sql)
        assert "get_application" in pg_queries("queries.sql")  # from common/queries.sql
    finally:
        await conn.close()


async def test_concurrent_claimers_never_share_a_delivery(dsn: str) -> None:
    store = await PostgresStore.open(dsn, max_size=8)
    try:
        app = await app_with_endpoint(store, "a")
        for _ in range(200):
            msg = Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=b"{}", created_at=T0)
            await store.publish(msg, now=T0)

        async def claimer(owner: str) -> list[str]:
            got: list[str] = []
            while batch := await store.claim(owner, 7, now=T0, lease_s=60):
                got += [c.delivery.id for c in batch]
            return got

        results = await asyncio.gather(*(claimer(f"w{i}") for i in range(6)))
        everything = [d for r in results for d in r]
        assert len(everything) == 200
        assert len(set(everything)) == 200
        assert sum(1 for r in results if r) > 1  # the work really was shared
    finally:
        await store.close()


async def test_publish_notifies_a_waiting_worker_in_another_connection(dsn: str) -> None:
    publisher = await PostgresStore.open(dsn)
    worker = await PostgresStore.open(dsn)
    try:
        app = await app_with_endpoint(publisher, "a")
        await worker.wait_for_work(0.01)  # opens the LISTEN connection
        waiter = asyncio.create_task(worker.wait_for_work(30))
        await asyncio.sleep(0.1)
        msg = Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=b"{}", created_at=T0)
        await publisher.publish(msg, now=T0)
        await asyncio.wait_for(waiter, 5)  # far sooner than the 30 s poll timeout
        assert len(await worker.claim("w", 10, now=T0, lease_s=60)) == 1
    finally:
        await publisher.close()
        await worker.close()


async def test_a_publish_in_another_schema_does_not_wake_this_worker(dsn: str) -> None:
    """NOTIFY channels are per database: a deployment in another schema of the same database must not wake
    this one's idle worker (every wake-up costs a claim round trip), while its own publishes still do."""
    other_schema = "hg_test_other_" + new_id("s").split("_", 1)[1].lower().replace("-", "_")[:12]
    base, _, _ = dsn.partition("?")
    admin = await asyncpg.connect(base)
    await admin.execute(f'CREATE SCHEMA "{other_schema}"')
    other = await PostgresStore.open(f"{base}?search_path={other_schema}")
    worker = await PostgresStore.open(dsn)
    publisher = await PostgresStore.open(dsn)
    try:
        app = await app_with_endpoint(other, "a")
        await worker.wait_for_work(0.01)  # opens the LISTEN connection
        woken = asyncio.Event()
        set_work = worker._work.set

        def record() -> None:
            woken.set()
            set_work()

        worker._work.set = record  # type: ignore[method-assign]
        for _ in range(3):
            msg = Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=b"{}", created_at=T0)
            await other.publish(msg, now=T0)
        # a round trip on the listening connection: notifications sent before it have been received
        assert worker._listener is not None
        await worker._listener.fetchval("SELECT 1")
        await asyncio.sleep(0.05)  # and any callback they scheduled has run
        assert not woken.is_set()
        mine = await app_with_endpoint(publisher, "b")
        msg = Message(id=new_id("msg"), app_id=mine.id, event_type="a.b", payload=b"{}", created_at=T0)
        await publisher.publish(msg, now=T0)
        await asyncio.wait_for(woken.wait(), 5)
    finally:
        await other.close()
        await worker.close()
        await publisher.close()
        await admin.execute(f'DROP SCHEMA "{other_schema}" CASCADE')
        await admin.close()


async def test_a_connection_left_mid_operation_is_discarded_not_reused(dsn: str) -> None:
    """A connection that failed with a client-side driver error (here: a statement still running on it, the
    state a connection lost mid-query can be left in) raises `StoreError`, never the asyncpg error, and is
    terminated: the next call gets a fresh connection instead of "another operation is in progress"."""
    store = await PostgresStore.open(dsn, min_size=1, max_size=1)
    background: list[asyncio.Task[object]] = []
    try:
        before = await store._one(lambda c: c.fetchval("SELECT pg_backend_pid()"))

        async def overlap(c: asyncpg.Connection) -> object:
            background.append(asyncio.create_task(c.fetchval("SELECT pg_sleep(0.5)")))
            await asyncio.sleep(0.05)  # the sleep is now running on this connection
            return await c.fetchval("SELECT 1")

        with pytest.raises(StoreError, match="another operation is in progress"):
            await store._one(overlap)
        with pytest.raises(StoreError, match="another operation is in progress"):
            await store._tx(overlap)
        # the pool's only connection was replaced: the next call works, on a new backend
        app = await store.create_application(Application(id=new_id("app"), name="a", created_at=T0))
        assert (await store.get_application(app.id)).name == "a"
        assert await store._one(lambda c: c.fetchval("SELECT pg_backend_pid()")) != before
    finally:
        await asyncio.gather(*background, return_exceptions=True)
        await store.close()


async def test_store_errors_leave_a_healthy_connection_in_the_pool(dsn: str) -> None:
    """A statement's own SQL error (a unique violation) is not a reason to drop the connection."""
    store = await PostgresStore.open(dsn, min_size=1, max_size=1)
    try:
        before = await store._one(lambda c: c.fetchval("SELECT pg_backend_pid()"))
        app = Application(id=new_id("app"), name="a", created_at=T0)
        await store.create_application(app)
        with pytest.raises(StoreError, match="UniqueViolation"):
            await store.create_application(app)
        with pytest.raises(NotFoundError):
            await store.get_endpoint("ep_missing")
        assert await store._one(lambda c: c.fetchval("SELECT pg_backend_pid()")) == before
    finally:
        await store.close()


async def test_the_listen_connection_comes_back_after_it_is_killed(dsn: str) -> None:
    """The worker's LISTEN connection is terminated by the server (as in a restart): the wait in progress
    ends instead of sleeping out its timeout, and the next wait listens on a new connection."""
    publisher = await PostgresStore.open(dsn)
    worker = await PostgresStore.open(dsn)
    admin = await asyncpg.connect(dsn)
    try:
        app = await app_with_endpoint(publisher, "a")
        await worker.wait_for_work(0.01)  # opens the LISTEN connection
        assert worker._listener is not None
        pid = worker._listener.get_server_pid()
        waiter = asyncio.create_task(worker.wait_for_work(30))
        await asyncio.sleep(0.1)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.wait_for(waiter, 5)  # far sooner than the 30 s poll timeout
        # the waiter may also have been woken by a notification before the kill landed, and the client sees
        # the closed socket only when the event loop has read it: wait (bounded) for the reconnection
        for _ in range(100):
            await worker.wait_for_work(0.05)  # reconnects (and returns at once: notifications may be lost)
            if worker._listener is not None and worker._listener.get_server_pid() != pid:
                break
        assert worker._listener is not None
        assert worker._listener.get_server_pid() != pid
        waiter = asyncio.create_task(worker.wait_for_work(30))
        await asyncio.sleep(0.1)
        msg = Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=b"{}", created_at=T0)
        await publisher.publish(msg, now=T0)
        await asyncio.wait_for(waiter, 5)
    finally:
        await admin.close()
        await publisher.close()
        await worker.close()


async def test_the_store_recovers_when_the_server_ends_its_connections(dsn: str) -> None:
    """The server terminates every connection of the store (what a restart does to them): calls fail with
    `StoreError` at worst, never another exception, and the store reconnects on its own."""
    name = "hg_kill_" + new_id("t")[2:14].lower().replace("-", "_")
    store = await PostgresStore.open(f"{dsn}&application_name={name}", min_size=3, max_size=3)
    admin = await asyncpg.connect(dsn)
    try:
        app = await store.create_application(Application(id=new_id("app"), name="a", created_at=T0))
        for _ in range(3):
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                name,
            )
            assert killed >= 1
            outcomes: list[str] = []
            for _ in range(10):
                try:
                    await store.get_application(app.id)
                except StoreError as exc:
                    outcomes.append(str(exc))
                else:
                    outcomes.append("ok")
            assert outcomes[-1] == "ok", outcomes
    finally:
        await admin.close()
        await store.close()
