"""Web console sessions: the dashboard's sign-in with an admin token, and the consumer portal's single-use
links, their sessions, listing and revocation.

Link and session tokens are 256 random bits shown once; only their SHA-256 is stored (like API tokens), and a
found record's hash is compared again in constant time. A session is valid while it is opened, unexpired,
unrevoked and the API token that created it is not revoked.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Iterable

from hookgate.errors import ConfigError, NotFoundError
from hookgate.models import ConsoleSession, new_id
from hookgate.services._base import ServiceBase
from hookgate.tokens import ADMIN, PREFIX, token_hash

__all__ = [
    "ADMIN_SESSION_S",
    "CAPABILITIES",
    "DEFAULT_PORTAL_LIFETIME_S",
    "LINK_PREFIX",
    "MAX_PORTAL_LIFETIME_S",
    "SESSION_PREFIX",
    "ConsoleServices",
]

# view: read endpoints, messages, attempts; manage_endpoints: create, edit, enable/disable, test events;
# secrets: reveal a new secret by rotating it; resend: resend and recover deliveries
CAPABILITIES = ("view", "manage_endpoints", "secrets", "resend")
DEFAULT_PORTAL_LIFETIME_S = 3600.0
MAX_PORTAL_LIFETIME_S = 7 * 24 * 3600.0
ADMIN_SESSION_S = 12 * 3600.0
LINK_PREFIX = "hgl_"
SESSION_PREFIX = "hgs_"
_MAX_TOKEN = 200


def _check_capabilities(capabilities: Iterable[str]) -> tuple[str, ...]:
    if isinstance(capabilities, str):
        raise ConfigError("capabilities must be a list of names, not a string")
    chosen = set(capabilities)
    unknown = chosen - set(CAPABILITIES)
    if unknown:
        raise ConfigError(f"unknown capabilities {sorted(unknown)}: choose from {', '.join(CAPABILITIES)}")
    chosen.add("view")  # every other capability works on what the session can see
    return tuple(c for c in CAPABILITIES if c in chosen)


class ConsoleServices(ServiceBase):
    """Console sessions: admin sign-in, portal links (create, open once), find, list, revoke."""

    async def create_portal_link(
        self,
        app_id: str,
        *,
        lifetime_s: float = DEFAULT_PORTAL_LIFETIME_S,
        capabilities: Iterable[str] = ("view",),
        created_by: str | None = None,
    ) -> tuple[ConsoleSession, str]:
        """A single-use link token for a portal session on ``app_id``: returned only now, valid to open
        (and the session it opens valid) for ``lifetime_s`` seconds (at most 7 days)."""
        if isinstance(lifetime_s, bool) or not isinstance(lifetime_s, int | float):
            raise ConfigError("lifetime_s must be a number of seconds")
        if not (0 < lifetime_s <= MAX_PORTAL_LIFETIME_S and math.isfinite(lifetime_s)):
            raise ConfigError(f"lifetime_s must be more than 0 and at most {int(MAX_PORTAL_LIFETIME_S)}")
        chosen = _check_capabilities(capabilities)
        await self.store.get_application(app_id)  # NotFoundError for an unknown application
        link = LINK_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        record = ConsoleSession(
            id=new_id("cs"),
            scope=app_id,
            capabilities=chosen,
            created_at=now,
            expires_at=now + float(lifetime_s),
            link_hash=token_hash(link),
            created_by=created_by,
        )
        await self.store.add_console_session(record)
        return record, link

    async def open_portal_link(self, link: str) -> tuple[ConsoleSession, str]:
        """Spend a portal link: the session it opens and that session's cookie token (returned only now).
        `NotFoundError` for a link that is unknown, already used, expired or revoked (not saying which)."""
        if not isinstance(link, str) or not link.startswith(LINK_PREFIX) or len(link) > _MAX_TOKEN:
            raise NotFoundError("no such console link")
        cookie = SESSION_PREFIX + secrets.token_urlsafe(32)
        record = await self.store.open_console_session(
            token_hash(link), token_hash(cookie), now=self._clock()
        )
        if not hmac.compare_digest(record.link_hash or b"", token_hash(link)):
            raise NotFoundError("no such console link")
        await self._check_creator(record)
        return record, cookie

    async def start_admin_session(self, api_token: str) -> tuple[ConsoleSession, str]:
        """Sign in to the dashboard with an admin API token: a session and its cookie token (returned only
        now). `NotFoundError` for anything but a valid, unrevoked admin token."""
        if not isinstance(api_token, str) or not api_token.startswith(PREFIX) or len(api_token) > _MAX_TOKEN:
            raise NotFoundError("no such API token")
        token = await self.store.find_api_token(token_hash(api_token))
        if not hmac.compare_digest(token.token_hash, token_hash(api_token)):
            raise NotFoundError("no such API token")
        if token.revoked_at is not None or token.scope != ADMIN:
            raise NotFoundError("no such API token")
        cookie = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        record = ConsoleSession(
            id=new_id("cs"),
            scope=ADMIN,
            capabilities=CAPABILITIES,
            created_at=now,
            expires_at=now + ADMIN_SESSION_S,
            session_hash=token_hash(cookie),
            created_by=token.id,
            opened_at=now,
        )
        await self.store.add_console_session(record)
        return record, cookie

    async def find_console_session(self, cookie: str) -> ConsoleSession:
        """The valid session of a cookie token; `NotFoundError` if unknown, expired, revoked or its
        creator's API token was revoked."""
        if not isinstance(cookie, str) or not cookie.startswith(SESSION_PREFIX) or len(cookie) > _MAX_TOKEN:
            raise NotFoundError("no such console session")
        record = await self.store.find_console_session(token_hash(cookie))
        if not hmac.compare_digest(record.session_hash or b"", token_hash(cookie)):
            raise NotFoundError("no such console session")
        if record.revoked_at is not None or record.opened_at is None or record.expires_at <= self._clock():
            raise NotFoundError("no such console session")
        await self._check_creator(record)
        return record

    async def _check_creator(self, record: ConsoleSession) -> None:
        if record.created_by is None:
            return
        tokens = {t.id: t for t in await self.store.list_api_tokens()}
        creator = tokens.get(record.created_by)
        if creator is None or creator.revoked_at is not None:
            raise NotFoundError("no such console session")

    async def list_console_sessions(self, scope: str) -> list[ConsoleSession]:
        """The sessions of ``scope`` ("admin" or an application id: its portal sessions), newest first."""
        return await self.store.list_console_sessions(scope)

    async def revoke_console_session(self, session_id: str) -> ConsoleSession:
        """End a session (or make its link unusable) now."""
        return await self.store.revoke_console_session(session_id, now=self._clock())
