"""Helpers the test modules share (one copy of each instead of one per module): the PostgreSQL and Redis
the suite may use, TLS server contexts from a trustme CA, and a port for a server in another process."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import ssl
from collections.abc import AsyncGenerator, Callable, Iterator

import pytest
import trustme

from hookgate.testing import RecordingReceiver, tls_server_context

__all__ = ["PG_DSN", "REDIS_URL", "MakeReceiver", "free_port", "postgres_dsn", "refusing_port", "server_tls"]

PG_DSN = os.environ.get("HOOKGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HOOKGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")

#: the root conftest's ``receivers`` fixture: ``receivers(respond, **options)`` starts a receiver
MakeReceiver = Callable[..., RecordingReceiver]


async def postgres_dsn() -> AsyncGenerator[str, None]:
    """A DSN whose search_path is a fresh schema, dropped afterwards; in CI an unreachable server fails."""
    asyncpg = pytest.importorskip("asyncpg")
    try:
        admin = await asyncpg.connect(PG_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}: {exc}")
    schema = "hg_test_" + secrets.token_hex(6)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_DSN}?search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def server_tls(
    ca: trustme.CA,
    *,
    client_ca: trustme.CA | None = None,
    names: tuple[str, ...] = ("127.0.0.1", "localhost"),
) -> ssl.SSLContext:
    """A server context with a certificate from ``ca`` for ``names``; with ``client_ca``, mutual TLS."""
    leaf = ca.issue_cert(*names)
    return tls_server_context(
        b"".join(pem.bytes() for pem in leaf.cert_chain_pems),
        leaf.private_key_pem.bytes(),
        client_ca_pem=client_ca.cert_pem.bytes() if client_ca is not None else None,
    )


def free_port() -> int:
    """A loopback port nothing listens on right now, for a server started in another process.

    Racy by nature: the port is released before the child binds it, and anything on the machine may take
    it in between (the child then fails to start and the test fails; it does not pass wrongly). Only for
    commands that need a number: ``hookgate serve``, ``gateway``, ``listen`` and ``demo`` accept ports
    1-65535, not 0. Servers started in this process bind port 0 instead (`hookgate.testing`'s
    `RecordingReceiver` does).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections for the block: bound but never listening, so nothing else
    can take it meanwhile (unlike a port from `free_port`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
