"""Who is looking at a console page: the session cookie, its CSRF token, and the security headers.

The dashboard's cookie (``hg_console``, path ``/ui``) is HttpOnly and SameSite=Strict, Secure over HTTPS. The
portal's (``hg_portal``, path ``/portal``) must reach hookgate from inside an iframe on the customer's site,
where a SameSite=Strict or Lax cookie is never sent: over HTTPS it is SameSite=None, Secure and Partitioned
(CHIPS: kept per embedding site, so browsers that block third-party cookies still keep it), over plain HTTP
(development on loopback) SameSite=Lax. Either way every form carries a CSRF token derived from the session
cookie (an HMAC of it), which a page on another origin can neither read nor compute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from starlette.requests import Request
from starlette.responses import Response

from hookgate.api.auth import Principal
from hookgate.errors import HookgateError, NotFoundError
from hookgate.models import ConsoleSession
from hookgate.tokens import ADMIN

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = [
    "DASHBOARD",
    "LOGIN_CSRF_COOKIE",
    "PORTAL",
    "CsrfError",
    "Kind",
    "SignedOut",
    "Viewer",
    "check_csrf",
    "clear_session_cookie",
    "csrf_for",
    "security_headers",
    "set_session_cookie",
    "viewer_of",
]


@dataclass(frozen=True, slots=True)
class Kind:
    """One console: its URL prefix and its cookie."""

    prefix: str
    cookie: str
    embeddable: bool


DASHBOARD = Kind("/ui", "hg_console", embeddable=False)
PORTAL = Kind("/portal", "hg_portal", embeddable=True)
LOGIN_CSRF_COOKIE = "hg_login_csrf"


class SignedOut(HookgateError):
    """No valid console session came with the request."""


class CsrfError(HookgateError):
    """A form came without the CSRF token of the session."""


def csrf_for(cookie: str) -> str:
    """The CSRF token of a session cookie (derived, so nothing more is stored)."""
    mac = hmac.new(cookie.encode(), b"hookgate-console-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in console user: the session, which console, and the application its pages show."""

    session: ConsoleSession
    kind: Kind
    csrf: str = ""

    @property
    def is_admin(self) -> bool:
        return self.session.scope == ADMIN

    @property
    def principal(self) -> Principal:
        """The API's view of this user, for the API's own tenant-checked lookups."""
        return Principal(self.session.created_by or self.session.id, self.session.scope)

    def can(self, capability: str) -> bool:
        return self.is_admin or capability in self.session.capabilities


async def viewer_of(request: Request, hg: Hookgate, kind: Kind) -> Viewer:
    """The viewer of a request to ``kind``'s pages, or `SignedOut`."""
    cookie = request.cookies.get(kind.cookie, "")
    try:
        session = await hg.find_console_session(cookie)
    except NotFoundError:
        raise SignedOut("sign in first") from None
    if (kind is DASHBOARD) != (session.scope == ADMIN):
        raise SignedOut("sign in first")  # a portal session is no dashboard session and vice versa
    return Viewer(session, kind, csrf_for(cookie))


def check_csrf(request: Request, kind: Kind, submitted: str | None) -> None:
    cookie = request.cookies.get(kind.cookie, "")
    if not cookie or not submitted or not hmac.compare_digest(submitted, csrf_for(cookie)):
        raise CsrfError("the form is out of date; reload the page and try again")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def set_session_cookie(response: Response, request: Request, kind: Kind, value: str, expires: int) -> None:
    https = request.url.scheme == "https"
    if kind.embeddable and https:
        response.set_cookie(
            kind.cookie, value, max_age=expires, path=kind.prefix, secure=True, httponly=True,
            samesite="none",
        )  # fmt: skip
        # Partitioned written by hand: Starlette sets it only on Python 3.14 (http.cookies learnt it there)
        name, header = response.raw_headers[-1]
        response.raw_headers[-1] = (name, header + b"; Partitioned")
    else:
        samesite: Literal["lax", "strict"] = "lax" if kind.embeddable else "strict"
        response.set_cookie(
            kind.cookie, value, max_age=expires, path=kind.prefix, secure=https, httponly=True,
            samesite=samesite,
        )  # fmt: skip


def clear_session_cookie(response: Response, request: Request, kind: Kind) -> None:
    https = request.url.scheme == "https"
    response.delete_cookie(
        kind.cookie, path=kind.prefix, secure=https, httponly=True,
        samesite="none" if kind.embeddable and https else ("lax" if kind.embeddable else "strict"),
    )  # fmt: skip


def security_headers(kind: Kind, frame_ancestors: str) -> dict[str, str]:
    """Every console answer's headers: no third-party anything, framing only where the deployment allows."""
    ancestors = frame_ancestors if kind.embeddable else "'none'"
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    headers = {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",  # the portal link's token must not leak in a Referer
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if not kind.embeddable:
        headers["X-Frame-Options"] = "DENY"
    return headers
