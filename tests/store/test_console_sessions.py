"""The store contract for web console sessions (run against every backend, like ``test_contract``)."""

from __future__ import annotations

import hashlib

import pytest

from hookgate.errors import DuplicateError, NotFoundError
from hookgate.models import ConsoleSession, new_id
from hookgate.store.base import Store

T0 = 1_700_000_000.0


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def portal(scope: str, link: str, *, at: float = T0, lifetime: float = 3600.0) -> ConsoleSession:
    return ConsoleSession(
        id=new_id("cs"),
        scope=scope,
        capabilities=("view", "resend"),
        created_at=at,
        expires_at=at + lifetime,
        link_hash=digest(link),
        created_by="tok_1",
    )


LINK_ONE = "hgl_link-one-never-in-a-repr"


async def test_a_link_opens_once_then_its_session_is_found_by_cookie_hash(store: Store) -> None:
    created = await store.add_console_session(portal("app_a", "link-1"))
    opened = await store.open_console_session(digest("link-1"), digest("cookie-1"), now=T0 + 10)
    assert opened.id == created.id
    assert opened.opened_at == T0 + 10
    assert opened.capabilities == ("view", "resend")
    assert opened.created_by == "tok_1"
    assert await store.find_console_session(digest("cookie-1")) == opened
    with pytest.raises(NotFoundError):  # spent: a second opening finds nothing
        await store.open_console_session(digest("link-1"), digest("cookie-2"), now=T0 + 11)
    with pytest.raises(NotFoundError):
        await store.find_console_session(digest("cookie-2"))
    with pytest.raises(NotFoundError):
        await store.open_console_session(digest("unknown"), digest("cookie-3"), now=T0 + 11)


async def test_expired_and_revoked_links_do_not_open(store: Store) -> None:
    await store.add_console_session(portal("app_a", "short", lifetime=60))
    with pytest.raises(NotFoundError):
        await store.open_console_session(digest("short"), digest("c1"), now=T0 + 60)
    revoked = await store.add_console_session(portal("app_a", "revoked"))
    first = await store.revoke_console_session(revoked.id, now=T0 + 5)
    assert first.revoked_at == T0 + 5
    assert (await store.revoke_console_session(revoked.id, now=T0 + 9)).revoked_at == T0 + 5
    with pytest.raises(NotFoundError):
        await store.open_console_session(digest("revoked"), digest("c2"), now=T0 + 6)
    with pytest.raises(NotFoundError):
        await store.revoke_console_session("cs_missing", now=T0)


async def test_sessions_are_listed_per_scope_newest_first_and_hashes_are_unique(store: Store) -> None:
    older = await store.add_console_session(portal("app_a", LINK_ONE, at=T0))
    newer = await store.add_console_session(portal("app_a", "l2", at=T0 + 1))
    await store.add_console_session(portal("app_b", "l3"))
    admin = ConsoleSession(
        id=new_id("cs"),
        scope="admin",
        capabilities=(),
        created_at=T0,
        expires_at=T0 + 60,
        session_hash=digest("admin-cookie"),
        opened_at=T0,
    )
    await store.add_console_session(admin)
    assert [s.id for s in await store.list_console_sessions("app_a")] == [newer.id, older.id]
    assert [s.id for s in await store.list_console_sessions("admin")] == [admin.id]
    assert (await store.find_console_session(digest("admin-cookie"))).capabilities == ()
    with pytest.raises(DuplicateError):
        await store.add_console_session(portal("app_b", LINK_ONE))
    # the link is long and distinctive: a random id can never contain it by chance (a short "l1" once did)
    assert LINK_ONE not in repr(older)
    assert repr(digest(LINK_ONE)) not in repr(older)
