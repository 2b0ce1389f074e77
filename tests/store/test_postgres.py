"""PostgreSQL specifics: migrations give the declared schema; concurrent claimers never share a delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hookgate.models import Application, Endpoint, Message, new_id
from hookgate.store.postgres import PostgresStore, migrate_postgres
from hookgate.store.sql import declared_schema, migrations
from tests.store.conftest import postgres_dsn

asyncpg = pytest.importorskip("asyncpg")
pytestmark = pytest.mark.postgres

T0 = 1_700_000_000.0


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async for value in postgres_dsn():
        yield value


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


async def test_concurrent_claimers_never_share_a_delivery(dsn: str) -> None:
    store = await PostgresStore.open(dsn, max_size=8)
    try:
        app = await store.create_application(Application(id=new_id("app"), name="a", created_at=T0))
        await store.create_endpoint(
            Endpoint(
                id=new_id("ep"), app_id=app.id, url="https://x.example.test/", created_at=T0, updated_at=T0
            )
        )
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
        app = await publisher.create_application(Application(id=new_id("app"), name="a", created_at=T0))
        await publisher.create_endpoint(
            Endpoint(
                id=new_id("ep"), app_id=app.id, url="https://x.example.test/", created_at=T0, updated_at=T0
            )
        )
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
