"""Fixtures of the console tests: the API fixtures (an in-memory engine, its app, an admin token) and a
second, cookie-less client for the console pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import BASE, Api, api, receiver

__all__ = ["Api", "api", "browser_client", "receiver"]


@pytest.fixture
async def browser_client(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar and no bearer token, like a browser."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url=BASE) as client:
        yield client
