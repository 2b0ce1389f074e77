"""The in-memory store's management records: API tokens, event types, inbound sources, console sessions.

A mixin of `hookgate.store.memory.MemoryStore`, which owns the applications these records refer to; it
refuses what the SQL stores' constraints refuse.
"""

from __future__ import annotations

from hookgate.errors import DuplicateError, NotFoundError
from hookgate.models import ApiToken, Application, ConsoleSession, EventType, InboundSourceRecord
from hookgate.store._memory_pages import copied as _c
from hookgate.store._memory_pages import existing

__all__ = ["ManagementRecords"]


class ManagementRecords:
    _apps: dict[str, Application]

    def __init__(self) -> None:
        self._api_tokens: dict[str, ApiToken] = {}
        self._event_types: dict[tuple[str, str], EventType] = {}
        self._sources: dict[str, InboundSourceRecord] = {}
        self._console_sessions: dict[str, ConsoleSession] = {}

    async def add_api_token(self, token: ApiToken) -> ApiToken:
        # the SQL stores refuse these through the primary key and the unique hash
        if token.id in self._api_tokens:
            raise DuplicateError(f"API token {token.id!r} already exists")
        if any(t.token_hash == token.token_hash for t in self._api_tokens.values()):
            raise DuplicateError("an API token with this hash already exists")
        self._api_tokens[token.id] = _c(token)
        return _c(token)

    async def find_api_token(self, token_hash: bytes) -> ApiToken:
        for t in self._api_tokens.values():
            if t.token_hash == token_hash:
                return _c(t)
        raise NotFoundError("API token not found")

    async def list_api_tokens(self) -> list[ApiToken]:
        return [_c(t) for t in sorted(self._api_tokens.values(), key=lambda t: (t.created_at, t.id))]

    async def revoke_api_token(self, token_id: str, *, now: float) -> ApiToken:
        token = existing(self._api_tokens, token_id, "API token")
        if token.revoked_at is None:
            token.revoked_at = now
        return _c(token)

    async def put_event_type(self, event_type: EventType) -> EventType:
        existing(self._apps, event_type.app_id, "application")
        self._event_types[(event_type.app_id, event_type.name)] = _c(event_type)
        return _c(event_type)

    async def list_event_types(self, app_id: str) -> list[EventType]:
        found = [e for (app, _), e in self._event_types.items() if app == app_id]
        return [_c(e) for e in sorted(found, key=lambda e: e.name)]

    async def put_source(self, source: InboundSourceRecord) -> InboundSourceRecord:
        if any(s.name == source.name and s.id != source.id for s in self._sources.values()):
            raise DuplicateError(f"an inbound source named {source.name!r} already exists")
        stored = _c(source)
        existing = self._sources.get(source.id)
        if existing is not None:
            stored.created_at = existing.created_at  # replacing keeps the creation time
        self._sources[source.id] = stored
        return _c(stored)

    async def get_source(self, source_id: str) -> InboundSourceRecord:
        return _c(existing(self._sources, source_id, "inbound source"))

    async def list_sources(self) -> list[InboundSourceRecord]:
        return [_c(s) for s in sorted(self._sources.values(), key=lambda s: s.name)]

    async def delete_source(self, source_id: str) -> None:
        existing(self._sources, source_id, "inbound source")
        del self._sources[source_id]

    async def add_console_session(self, session: ConsoleSession) -> ConsoleSession:
        # the SQL stores refuse these through the primary key and the unique hashes
        for other in self._console_sessions.values():
            if other.id == session.id or any(
                h is not None and h in (other.link_hash, other.session_hash)
                for h in (session.link_hash, session.session_hash)
            ):
                raise DuplicateError("a console session with this id or hash already exists")
        self._console_sessions[session.id] = _c(session)
        return _c(session)

    async def open_console_session(
        self, link_hash: bytes, session_hash: bytes, *, now: float
    ) -> ConsoleSession:
        for s in self._console_sessions.values():
            usable = s.opened_at is None and s.revoked_at is None and s.expires_at > now
            if s.link_hash == link_hash and usable:
                s.opened_at, s.session_hash = now, session_hash
                return _c(s)
        raise NotFoundError("no such console link")

    async def find_console_session(self, session_hash: bytes) -> ConsoleSession:
        for s in self._console_sessions.values():
            if s.session_hash == session_hash:
                return _c(s)
        raise NotFoundError("no such console session")

    async def list_console_sessions(self, scope: str) -> list[ConsoleSession]:
        found = [s for s in self._console_sessions.values() if s.scope == scope]
        return [_c(s) for s in sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)]

    async def revoke_console_session(self, session_id: str, *, now: float) -> ConsoleSession:
        session = existing(self._console_sessions, session_id, "console session")
        if session.revoked_at is None:
            session.revoked_at = now
        return _c(session)
