"""Sign-in throttling: failed admin-token sign-ins per client address are limited (429 with Retry-After)."""

from __future__ import annotations

import httpx

from hookgate.console.throttle import FAILURES_BURST, LoginThrottle
from tests.console.conftest import BASE, Api
from tests.console.helpers import csrf_of


def client_from(api: Api, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def try_token(client: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await client.get("/ui/login")
    return await client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": token})


async def test_failed_sign_ins_are_throttled_per_address(api: Api) -> None:
    async with client_from(api, "198.51.100.7") as guesser, client_from(api, "198.51.100.8") as other:
        for _ in range(FAILURES_BURST):
            assert (await try_token(guesser, "hg_wrong")).status_code == 401
        throttled = await try_token(guesser, "hg_wrong")
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1
        assert "Too many failed sign-ins" in throttled.text
        # while throttled even the right token is not looked at
        assert (await try_token(guesser, api.token)).status_code == 429
        # another address is not affected
        signed_in = await try_token(other, api.token)
        assert signed_in.status_code == 303


def test_the_budget_refills_with_time() -> None:
    throttle = LoginThrottle(burst=2, per_minute=1.0)
    now = 1_000.0
    throttle.failed("a", now)
    assert throttle.retry_after("a", now) == 0
    throttle.failed("a", now)
    assert throttle.retry_after("a", now) == 60
    assert throttle.retry_after("a", now + 59.5) == 1
    assert throttle.retry_after("a", now + 60) == 0
    assert throttle.retry_after("never-failed", now) == 0
