"""Helpers of the console tests: sign in over HTTP, read a page's CSRF token, open a portal link."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

V1 = "/api/v1"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str) -> str:
    """Sign the client in to the dashboard; returns the session's CSRF token."""
    form = await client.get("/ui/login")
    answer = await client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": token})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/"
    home = await client.get("/ui/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


async def portal_link(
    client: httpx.AsyncClient, token: str, app_id: str, capabilities: list[str] | None = None, **body: object
) -> dict[str, object]:
    answer = await client.post(
        f"{V1}/applications/{app_id}/portal",
        json={"capabilities": capabilities or ["view"], **body},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, object] = answer.json()
    return found


async def open_portal(client: httpx.AsyncClient, url: str) -> str:
    """Open a portal link in the client; returns the portal home's CSRF token."""
    answer = await client.get(url)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/portal/"
    home = await client.get("/portal/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") != "password":
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.setdefault(name, []).append(a.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.setdefault(name, []).append("")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields.setdefault(self._select, []).append(a.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea][-1] += data


def form_fields(html: str) -> dict[str, list[str]]:
    """What a browser would submit of the page's forms as shown (no password fields: they are empty)."""
    parser = _Fields()
    parser.feed(html)
    return parser.fields
