"""Applications and their event types (the catalogue subscribers choose from)."""

from __future__ import annotations

from hookgate.config.rules import check_flag, validate_application_id, validate_event_type, validate_text
from hookgate.errors import ConfigError, DuplicateError
from hookgate.models import (
    Application,
    EventType,
    new_id,
)
from hookgate.outbound.opevents import OPS_APP_ID
from hookgate.services._base import ServiceBase
from hookgate.store.base import Page

__all__ = ["ApplicationServices"]

_MAX_DESCRIPTION = 4096


class ApplicationServices(ServiceBase):
    """Create, read and rename applications; declare and list their event types."""

    async def create_application(self, name: str, *, app_id: str | None = None) -> Application:
        name = validate_text(name, "application name", max_length=256)
        app = Application(
            id=new_id("app") if app_id is None else validate_application_id(app_id),
            name=name,
            created_at=self._clock(),
        )
        try:
            return await self.store.create_application(app)
        except DuplicateError:
            raise DuplicateError(f"application {app.id} exists") from None

    async def get_application(self, app_id: str) -> Application:
        """The application; the operator application (`OPS_APP_ID`) is created on first use, so its
        endpoints are added like any other (API, CLI, console) without a setup step."""
        if app_id == OPS_APP_ID:
            return await self._ops_application()
        return await self.store.get_application(app_id)

    async def list_applications(self, *, cursor: str | None = None, limit: int = 50) -> Page[Application]:
        """Applications, newest first, a page at a time (pass ``next_cursor`` back for the next)."""
        return await self.store.list_applications(cursor=cursor, limit=limit)

    async def rename_application(self, app_id: str, name: str) -> Application:
        name = validate_text(name, "application name", max_length=256)
        return await self.store.rename_application(app_id, name)

    async def put_event_type(
        self, app_id: str, name: str, *, description: str = "", archived: bool = False
    ) -> EventType:
        """Declare an event type of the application, or change its description or archived flag (by name)."""
        if description:
            validate_text(description, "event type description", max_length=_MAX_DESCRIPTION)
        elif not isinstance(description, str):
            raise ConfigError(f"event type description must be a string, not {type(description).__name__}")
        archived = check_flag(archived, "archived")
        event_type = EventType(app_id, validate_event_type(name), self._clock(), description, archived)
        return await self.store.put_event_type(event_type)

    async def list_event_types(self, app_id: str) -> list[EventType]:
        return await self.store.list_event_types(app_id)
