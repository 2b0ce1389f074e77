"""Helpers of the console tests: sign in over HTTP, read a page's CSRF token, open a portal link."""

from __future__ import annotations

import re

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
