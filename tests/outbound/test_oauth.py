"""The OAuth2 token cache against a real token endpoint on loopback (outbound.oauth)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from hookgate.errors import OAuth2Error
from hookgate.keys import Secret
from hookgate.outbound.oauth import TokenCache
from hookgate.outbound.transport import Transport
from hookgate.policy.ssrf import AddressPolicy
from hookgate.schemes.oauth2 import ClientCredentials, TokenPolicy, parse_form
from tests.support import refusing_port

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8"])


@dataclass
class TokenServer:
    """A token endpoint whose answer each test chooses; counts and records requests."""

    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    expires_in: int | None = 3600
    answer: Callable[[int], web.Response] | None = None

    def url(self, path: str = "/token") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def creds(self, client_id: str = "client-1", path: str = "/token") -> ClientCredentials:
        return ClientCredentials(
            token_url=self.url(path), client_id=client_id, client_secret=Secret(b"s3cret")
        )


class FakeClock:
    """A list-backed clock: tests append (or set) the current time."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.times = [start]

    def __call__(self) -> float:
        return self.times[-1]

    def advance(self, seconds: float) -> None:
        self.times.append(self.times[-1] + seconds)


@pytest.fixture
async def server() -> AsyncIterator[TokenServer]:
    state = TokenServer()

    async def token(request: web.Request) -> web.Response:
        form = parse_form(await request.read())
        n = len(state.requests) + 1
        state.requests.append({"form": form, "headers": dict(request.headers)})
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.answer is not None:
            return state.answer(n)
        body: dict[str, Any] = {"access_token": f"token-{n}", "token_type": "Bearer"}
        if state.expires_in is not None:
            body["expires_in"] = state.expires_in
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = int(runner.addresses[-1][1])
    yield state
    await runner.cleanup()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport(address_policy=LOOPBACK)
    yield t
    await t.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(transport: Transport, clock: FakeClock) -> TokenCache:
    return TokenCache(transport, clock=clock)


def _value(token: Any) -> str:
    return str(token.access_token.reveal().decode("ascii"))


# --- fetching and caching ---


async def test_get_fetches_a_token(server: TokenServer, cache: TokenCache, clock: FakeClock) -> None:
    token = await cache.get("ep1", server.creds(), insecure_ok=True)
    assert _value(token) == "token-1"
    assert token.token_type == "Bearer"
    assert token.obtained_at == clock()
    assert token.expires_at == clock() + 3600
    assert cache.fetches == 1
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req["form"]["grant_type"] == "client_credentials"
    assert req["headers"]["Authorization"].startswith("Basic ")


async def test_single_flight(server: TokenServer, cache: TokenCache) -> None:
    server.delay = 0.1
    creds = server.creds()
    tokens = await asyncio.gather(*(cache.get("ep1", creds, insecure_ok=True) for _ in range(50)))
    assert len(server.requests) == 1
    assert cache.fetches == 1
    assert {_value(t) for t in tokens} == {"token-1"}
    assert all(t is tokens[0] for t in tokens)


async def test_cached_until_needs_refresh_then_one_refetch(
    server: TokenServer, transport: Transport, clock: FakeClock
) -> None:
    policy = TokenPolicy(skew=30.0)
    cache = TokenCache(transport, policy=policy, clock=clock)
    creds = server.creds()
    first = await cache.get("ep1", creds, insecure_ok=True)
    refresh_at = policy.refresh_at(first)
    assert refresh_at == clock() + 3600 - 30

    clock.times.append(refresh_at - 1)
    assert not policy.needs_refresh(first, clock())
    for _ in range(5):
        assert await cache.get("ep1", creds, insecure_ok=True) is first
    assert cache.fetches == 1

    clock.times.append(refresh_at)
    assert policy.needs_refresh(first, clock())
    server.delay = 0.05
    again = await asyncio.gather(*(cache.get("ep1", creds, insecure_ok=True) for _ in range(10)))
    assert cache.fetches == 2
    assert len(server.requests) == 2
    assert {_value(t) for t in again} == {"token-2"}
    assert await cache.get("ep1", creds, insecure_ok=True) is again[0]
    assert cache.fetches == 2


async def test_token_without_expiry_uses_default_lifetime(
    server: TokenServer, transport: Transport, clock: FakeClock
) -> None:
    server.expires_in = None
    cache = TokenCache(transport, policy=TokenPolicy(default_lifetime=100.0), clock=clock)
    creds = server.creds()
    first = await cache.get("ep1", creds, insecure_ok=True)
    assert first.expires_at is None
    clock.advance(99)
    assert await cache.get("ep1", creds, insecure_ok=True) is first
    clock.advance(1)
    assert _value(await cache.get("ep1", creds, insecure_ok=True)) == "token-2"
    assert cache.fetches == 2


async def test_refresh_fetches_a_new_token(server: TokenServer, cache: TokenCache) -> None:
    creds = server.creds()
    first = await cache.get("ep1", creds, insecure_ok=True)
    fresh = await cache.refresh("ep1", creds, first, insecure_ok=True)
    assert _value(fresh) == "token-2"
    assert cache.fetches == 2
    assert await cache.get("ep1", creds, insecure_ok=True) is fresh


async def test_refresh_returns_a_token_someone_else_already_replaced(
    server: TokenServer, cache: TokenCache
) -> None:
    creds = server.creds()
    first = await cache.get("ep1", creds, insecure_ok=True)
    second = await cache.refresh("ep1", creds, first, insecure_ok=True)
    # a second task was also refused with the first token: it gets the replacement, no new fetch
    again = await cache.refresh("ep1", creds, first, insecure_ok=True)
    assert again is second
    assert cache.fetches == 2
    assert len(server.requests) == 2


async def test_concurrent_refreshes_of_one_rejected_token_fetch_once(
    server: TokenServer, cache: TokenCache
) -> None:
    creds = server.creds()
    first = await cache.get("ep1", creds, insecure_ok=True)
    server.delay = 0.05
    results = await asyncio.gather(*(cache.refresh("ep1", creds, first, insecure_ok=True) for _ in range(10)))
    assert cache.fetches == 2
    assert {_value(t) for t in results} == {"token-2"}


async def test_refresh_without_a_cached_token_fetches(server: TokenServer, cache: TokenCache) -> None:
    creds = server.creds()
    first = await cache.get("ep1", creds, insecure_ok=True)
    cache.forget("ep1")
    fresh = await cache.refresh("ep1", creds, first, insecure_ok=True)
    assert _value(fresh) == "token-2"


async def test_different_keys_keep_different_tokens(server: TokenServer, cache: TokenCache) -> None:
    a = await cache.get("ep-a", server.creds("client-a"), insecure_ok=True)
    b = await cache.get("ep-b", server.creds("client-b"), insecure_ok=True)
    assert _value(a) != _value(b)
    assert await cache.get("ep-a", server.creds("client-a"), insecure_ok=True) is a
    assert await cache.get("ep-b", server.creds("client-b"), insecure_ok=True) is b
    assert cache.fetches == 2
    # refreshing one key leaves the other alone
    await cache.refresh("ep-a", server.creds("client-a"), a, insecure_ok=True)
    assert await cache.get("ep-b", server.creds("client-b"), insecure_ok=True) is b
    assert cache.fetches == 3


async def test_forget_drops_the_token(server: TokenServer, cache: TokenCache) -> None:
    creds = server.creds()
    first = await cache.get("ep1", creds, insecure_ok=True)
    other = await cache.get("ep2", creds, insecure_ok=True)
    cache.forget("ep1")
    cache.forget("never-seen")  # no error
    second = await cache.get("ep1", creds, insecure_ok=True)
    assert second is not first
    assert _value(second) == "token-3"
    assert await cache.get("ep2", creds, insecure_ok=True) is other
    assert cache.fetches == 3


async def test_a_failure_is_held_briefly_then_fetched_again(
    server: TokenServer, cache: TokenCache, clock: FakeClock
) -> None:
    server.answer = lambda n: web.Response(status=500, text="boom")
    assert cache.fetches == 0
    with pytest.raises(OAuth2Error, match="HTTP 500"):
        await cache.get("ep1", server.creds(), insecure_ok=True)
    assert cache.fetches == 1
    # within the hold, the same error again without a request: a broken token endpoint is not hammered
    results = await asyncio.gather(
        *(cache.get("ep1", server.creds(), insecure_ok=True) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, OAuth2Error) and "HTTP 500" in str(r) for r in results)
    assert cache.fetches == 1
    assert len(server.requests) == 1
    clock.times.append(clock() + 5.1)
    with pytest.raises(OAuth2Error):
        await cache.get("ep1", server.creds(), insecure_ok=True)
    assert cache.fetches == 2


async def test_failure_does_not_poison_the_cache(
    server: TokenServer, cache: TokenCache, clock: FakeClock
) -> None:
    server.answer = lambda n: web.Response(status=503, text="down")
    with pytest.raises(OAuth2Error):
        await cache.get("ep1", server.creds(), insecure_ok=True)
    server.answer = None
    clock.times.append(clock() + 5.1)
    token = await cache.get("ep1", server.creds(), insecure_ok=True)
    assert _value(token) == "token-2"


# --- errors ---


async def test_invalid_client_error(server: TokenServer, cache: TokenCache) -> None:
    server.answer = lambda n: web.json_response(
        {"error": "invalid_client", "error_description": "unknown client id"}, status=400
    )
    with pytest.raises(OAuth2Error) as info:
        await cache.get("ep1", server.creds(), insecure_ok=True)
    err = info.value
    assert err.error == "invalid_client"
    assert err.status == 400
    assert "invalid_client" in str(err)
    assert "400" in str(err)
    assert "unknown client id" in str(err)
    assert "s3cret" not in str(err)


async def test_server_error(server: TokenServer, cache: TokenCache) -> None:
    server.answer = lambda n: web.Response(status=500, text="internal error")
    with pytest.raises(OAuth2Error, match="HTTP 500") as info:
        await cache.get("ep1", server.creds(), insecure_ok=True)
    assert info.value.status == 500
    assert info.value.error is None


async def test_non_json_success(server: TokenServer, cache: TokenCache) -> None:
    server.answer = lambda n: web.Response(status=200, text="<html>hello</html>", content_type="text/html")
    with pytest.raises(OAuth2Error, match="not a JSON object"):
        await cache.get("ep1", server.creds(), insecure_ok=True)


async def test_success_without_access_token(server: TokenServer, cache: TokenCache) -> None:
    server.answer = lambda n: web.json_response({"token_type": "Bearer"})
    with pytest.raises(OAuth2Error, match="no access_token"):
        await cache.get("ep1", server.creds(), insecure_ok=True)


async def test_non_bearer_token_type(server: TokenServer, cache: TokenCache) -> None:
    server.answer = lambda n: web.json_response({"access_token": "x", "token_type": "mac"})
    with pytest.raises(OAuth2Error, match="not Bearer"):
        await cache.get("ep1", server.creds(), insecure_ok=True)


async def test_unreachable_port(cache: TokenCache) -> None:
    with refusing_port() as port:
        creds = ClientCredentials(f"http://127.0.0.1:{port}/token", "client-1", Secret(b"s3cret"))
        with pytest.raises(OAuth2Error, match="token endpoint unreachable") as info:
            await cache.get("ep1", creds, insecure_ok=True)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert cache.fetches == 1


async def test_plain_http_refused_without_insecure_ok(server: TokenServer, cache: TokenCache) -> None:
    with pytest.raises(OAuth2Error, match=r"token endpoint unreachable.*plain-text"):
        await cache.get("ep1", server.creds())
    assert server.requests == []


async def test_non_allowlisted_address_is_refused(server: TokenServer, clock: FakeClock) -> None:
    guarded = Transport(address_policy=AddressPolicy())
    try:
        cache = TokenCache(guarded, clock=clock)
        with pytest.raises(OAuth2Error) as info:
            await cache.get("ep1", server.creds(), insecure_ok=True)
        message = str(info.value)
        assert "token endpoint unreachable" in message
        assert "refus" in message
        assert "127.0.0.1" in message
    finally:
        await guarded.close()
    assert server.requests == []


async def test_post_auth_method_sends_credentials_in_the_form(server: TokenServer, cache: TokenCache) -> None:
    creds = ClientCredentials(
        server.url(),
        "client-1",
        Secret(b"s3cret"),
        scope="a b",
        audience="aud",
        auth_method="client_secret_post",
    )
    await cache.get("ep1", creds, insecure_ok=True)
    req = server.requests[0]
    assert "Authorization" not in req["headers"]
    assert req["form"] == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": "s3cret",
        "scope": "a b",
        "audience": "aud",
    }
