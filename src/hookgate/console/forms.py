"""Reading a console form: the URL-encoded body (bounded), its CSRF token checked against the session."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from hookgate.console.session import Kind, check_csrf
from hookgate.errors import ConfigError

__all__ = ["Form", "read_form"]

MAX_FORM_BYTES = 256 * 1024


class Form:
    """A submitted form: the last value of each field, and every value of repeated fields."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        found = [v for k, v in self._pairs if k == name]
        return found[-1].strip() if found else default

    def all(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k == name]

    def flag(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "1", "yes")


async def read_form(request: Request, kind: Kind, *, csrf: bool = True) -> Form:
    """The form of a POST, after its CSRF token is checked (`CsrfError`)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ConfigError("the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ConfigError("the form is not UTF-8") from None
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise ConfigError("the form contains a NUL character")
    form = Form(pairs)
    if csrf:
        check_csrf(request, kind, form.get("csrf") or None)
    return form
