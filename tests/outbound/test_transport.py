"""Transport against real servers on loopback: TLS via trustme, SSRF refusals, bounds and error classes."""

from __future__ import annotations

import asyncio
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp.connector
import pytest
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from hookgate import __version__
from hookgate.errors import DeliveryError, SSRFError
from hookgate.outbound.transport import Response, Transport, delivery_error, error_class_of
from hookgate.policy.ssrf import AddressPolicy

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8", "::1/128"])
BIG = 10 * 1024 * 1024

Serve = Callable[..., Awaitable[int]]


def _ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(ctx)
    return ctx


@pytest.fixture
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def release() -> asyncio.Event:
    """Set at teardown so handlers that wait forever return and the server can shut down."""
    return asyncio.Event()


@pytest.fixture
def app(release: asyncio.Event) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(
            body=body,
            headers={
                "X-Custom-Header": "Value",
                "X-Seen-User-Agent": request.headers.get("User-Agent", ""),
                "X-Seen-Cookie": request.headers.get("Cookie", ""),
                "X-Seen-Method": request.method,
                "X-Local-Addr": str(request.transport.get_extra_info("sockname")[0])
                if request.transport
                else "",
                "Set-Cookie": "session=planted; Path=/",
            },
        )

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        chunk = b"a" * 65536
        try:
            for _ in range(BIG // len(chunk)):
                await resp.write(chunk)
        except (ConnectionError, OSError):
            pass  # the client stopped reading, as it should
        return resp

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/echo"}, text="moved")

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="too late")

    application = web.Application()
    application.router.add_route("*", "/echo", echo)
    application.router.add_get("/big", big)
    application.router.add_get("/redirect", redirect)
    application.router.add_get("/slow", slow)
    return application


@pytest.fixture
async def serve(app: web.Application, release: asyncio.Event) -> AsyncIterator[Serve]:
    """Start `app` on loopback (port 0), optionally with TLS; returns the port."""
    runners: list[web.AppRunner] = []

    async def start(ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1", port: int = 0) -> int:
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        runners.append(runner)
        addr = runner.addresses[-1]
        return int(addr[1])

    yield start
    release.set()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport(address_policy=LOOPBACK) as t:
        yield t


@pytest.fixture
async def guarded() -> AsyncIterator[Transport]:
    async with Transport(address_policy=AddressPolicy()) as t:
        yield t


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- success paths -------------------------------------------------------------------------------------


async def test_https_echo_lowercases_headers_and_sends_user_agent(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    port = await serve(server_ctx)
    resp = await transport.send(
        "POST",
        f"https://localhost:{port}/echo",
        {"Content-Type": "application/json"},
        b'{"hello": "world"}',
        ssl_context=client_ctx,
    )
    assert isinstance(resp, Response)
    assert resp.status == 200
    assert resp.excerpt == '{"hello": "world"}'
    assert resp.headers["x-custom-header"] == "Value"
    assert all(name == name.lower() for name in resp.headers)
    assert resp.headers["x-seen-user-agent"] == f"hookgate/{__version__}"
    assert resp.headers["x-seen-method"] == "POST"
    assert resp.duration_ms >= 0


async def test_caller_headers_override_user_agent(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    port = await serve(server_ctx)
    async with Transport(address_policy=LOOPBACK, user_agent="custom/1") as t:
        resp = await t.send("POST", f"https://127.0.0.1:{port}/echo", {}, b"", ssl_context=client_ctx)
    assert resp.headers["x-seen-user-agent"] == "custom/1"


async def test_cookies_are_not_kept(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    port = await serve(server_ctx)
    url = f"https://localhost:{port}/echo"
    first = await transport.send("POST", url, {}, b"1", ssl_context=client_ctx)
    assert "session=planted" in first.headers["set-cookie"]
    second = await transport.send("POST", url, {}, b"2", ssl_context=client_ctx)
    assert second.headers["x-seen-cookie"] == ""


async def test_large_body_is_read_capped_and_excerpt_bounded(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    port = await serve(server_ctx)
    async with Transport(address_policy=LOOPBACK, max_response_bytes=4096, max_excerpt=100) as t:
        resp = await t.send("GET", f"https://localhost:{port}/big", {}, b"", ssl_context=client_ctx)
        assert resp.status == 200
        assert resp.excerpt == "a" * 100
        # The truncated connection must not be reused with its unread rest: the next request works.
        again = await t.send("POST", f"https://localhost:{port}/echo", {}, b"ok", ssl_context=client_ctx)
        assert again.excerpt == "ok"


async def test_default_excerpt_length(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    port = await serve(server_ctx)
    resp = await transport.send("GET", f"https://localhost:{port}/big", {}, b"", ssl_context=client_ctx)
    assert len(resp.excerpt) == 1024


async def test_invalid_utf8_is_replaced(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    port = await serve(server_ctx)
    resp = await transport.send(
        "POST", f"https://localhost:{port}/echo", {}, b"ok\xff", ssl_context=client_ctx
    )
    assert resp.excerpt == "ok\ufffd"


async def test_nul_in_the_excerpt_is_replaced_and_the_body_kept(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    # the excerpt is stored as text, which on PostgreSQL cannot hold a NUL (issue 10 item 13)
    port = await serve(server_ctx)
    resp = await transport.send(
        "POST", f"https://localhost:{port}/echo", {}, b"a\x00b", ssl_context=client_ctx
    )
    assert (resp.excerpt, resp.body) == ("a\ufffdb", b"a\x00b")


async def test_redirect_is_not_followed(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    port = await serve(server_ctx)
    resp = await transport.send("GET", f"https://localhost:{port}/redirect", {}, b"", ssl_context=client_ctx)
    assert resp.status == 302
    assert resp.headers["location"] == "/echo"
    assert resp.excerpt == "moved"


async def test_tls13_only_server_works(
    serve: Serve, ca: trustme.CA, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    port = await serve(ctx)
    resp = await transport.send(
        "POST", f"https://localhost:{port}/echo", {}, b"tls13", ssl_context=client_ctx
    )
    assert resp.excerpt == "tls13"


# -- URL rules -----------------------------------------------------------------------------------------


async def test_plain_http_refused_unless_insecure_ok(serve: Serve, transport: Transport) -> None:
    port = await serve(None)
    url = f"http://127.0.0.1:{port}/echo"
    with pytest.raises(DeliveryError) as info:
        await transport.send("POST", url, {}, b"x")
    assert error_class_of(info.value) == "insecure_url"
    assert not isinstance(info.value, SSRFError)

    resp = await transport.send("POST", url, {}, b"x", insecure_ok=True)
    assert resp.status == 200
    assert resp.excerpt == "x"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "https:///no-host", "file:///etc/passwd", "nonsense"])
async def test_bad_urls(transport: Transport, url: str) -> None:
    with pytest.raises(DeliveryError) as info:
        await transport.send("POST", url, {}, b"")
    assert error_class_of(info.value) == "bad_url"


# -- SSRF ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::ffff:127.0.0.1]",
        pytest.param(
            "[::1]",
            marks=pytest.mark.skipif(
                not _ipv6_loopback_available(), reason="no IPv6 loopback on this machine"
            ),
        ),
    ],
)
async def test_loopback_refused_by_default(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, guarded: Transport, host: str
) -> None:
    # A live server is listening, so a refusal can only come from the address policy. The IPv4-mapped
    # form is refused before any socket exists, so it needs no IPv6 connectivity to be meaningful.
    port = await serve(server_ctx)
    with pytest.raises(SSRFError) as info:
        await guarded.send(
            "POST",
            f"https://{host}:{port}/echo",
            {"Authorization": "Bearer s3cr3t"},
            b"",
            ssl_context=client_ctx,
        )
    assert isinstance(info.value, DeliveryError)
    assert error_class_of(info.value) == "ssrf"
    assert info.value.error_class == "ssrf"  # type: ignore[attr-defined]
    assert "s3cr3t" not in str(info.value)


async def test_ssrf_refused_over_plain_http_too(serve: Serve, guarded: Transport) -> None:
    port = await serve(None)
    with pytest.raises(SSRFError):
        await guarded.send("POST", f"http://localhost:{port}/echo", {}, b"", insecure_ok=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_allowed_by_allowlist(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport, host: str
) -> None:
    port = await serve(server_ctx)
    resp = await transport.send("POST", f"https://{host}:{port}/echo", {}, b"allowed", ssl_context=client_ctx)
    assert resp.excerpt == "allowed"


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback_allowed_by_allowlist(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    port = await serve(server_ctx, host="::1")
    resp = await transport.send("POST", f"https://[::1]:{port}/echo", {}, b"v6", ssl_context=client_ctx)
    assert resp.excerpt == "v6"


async def test_refusal_does_not_leak_into_later_requests(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    # Only 127.0.0.1 is allowed: 127.0.0.2 is refused, and the next, allowed, request is unaffected.
    port = await serve(server_ctx)
    async with Transport(address_policy=AddressPolicy(allow=["127.0.0.1/32"])) as t:
        with pytest.raises(SSRFError):
            await t.send("POST", f"https://127.0.0.2:{port}/echo", {}, b"", ssl_context=client_ctx)
        resp = await t.send("POST", f"https://127.0.0.1:{port}/echo", {}, b"fine", ssl_context=client_ctx)
    assert resp.excerpt == "fine"


class _FakeResolver(AbstractResolver):
    """Answers every name with fixed addresses: a stand-in for a hostile or rebinding DNS server."""

    answers: tuple[str, ...] = ()

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in self.answers
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> type[_FakeResolver]:
    resolver = type("Resolver", (_FakeResolver,), {})
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", resolver)
    return resolver


async def test_name_resolving_to_several_forbidden_addresses_is_refused(
    serve: Serve, fake_dns: type[_FakeResolver]
) -> None:
    # Several addresses take aiohappyeyeballs' staggered-race path, where the factory's error surfaces
    # differently than on the single-address path. All answers are loopback so that even a broken guard
    # never reaches beyond this machine.
    port = await serve(None)
    fake_dns.answers = ("127.0.0.2", "127.0.0.1", "::1")
    async with Transport(address_policy=AddressPolicy()) as t:
        with pytest.raises(SSRFError) as info:
            await t.send("POST", f"http://rebind.test:{port}/echo", {}, b"", insecure_ok=True)
    assert error_class_of(info.value) == "ssrf"


async def test_forbidden_answers_are_skipped_not_dialled(serve: Serve, fake_dns: type[_FakeResolver]) -> None:
    # The policy is applied per address: a live server sits on the forbidden first answer too, and the
    # request must still land on the allowed one.
    port = await serve(None)
    await serve(None, host="127.0.0.2", port=port)
    fake_dns.answers = ("127.0.0.2", "127.0.0.1")
    async with Transport(address_policy=AddressPolicy(allow=["127.0.0.1/32"])) as t:
        resp = await t.send("POST", f"http://rebind.test:{port}/echo", {}, b"via allowed", insecure_ok=True)
    assert resp.excerpt == "via allowed"
    assert resp.headers["x-local-addr"] == "127.0.0.1"


# -- failures ------------------------------------------------------------------------------------------


async def test_timeout(serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    port = await serve(server_ctx)
    async with Transport(address_policy=LOOPBACK) as t:
        with pytest.raises(DeliveryError) as info:
            await t.send(
                "GET", f"https://localhost:{port}/slow", {}, b"", timeout_s=0.3, ssl_context=client_ctx
            )
    assert error_class_of(info.value) == "timeout"


async def test_connection_refused(transport: Transport) -> None:
    port = _closed_port()
    with pytest.raises(DeliveryError) as info:
        await transport.send("POST", f"https://127.0.0.1:{port}/", {"Authorization": "Bearer s3cr3t"}, b"")
    assert error_class_of(info.value) == "connect"
    assert not isinstance(info.value, SSRFError)
    assert "s3cr3t" not in str(info.value)


async def test_untrusted_certificate_with_default_context(
    serve: Serve, server_ctx: ssl.SSLContext, transport: Transport
) -> None:
    port = await serve(server_ctx)
    with pytest.raises(DeliveryError) as info:
        await transport.send("POST", f"https://localhost:{port}/echo", {}, b"")
    assert error_class_of(info.value) == "tls"


async def test_hostname_mismatch_is_tls_error(
    serve: Serve, ca: trustme.CA, client_ctx: ssl.SSLContext, transport: Transport
) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("other.example").configure_cert(ctx)
    port = await serve(ctx)
    with pytest.raises(DeliveryError) as info:
        await transport.send("POST", f"https://localhost:{port}/echo", {}, b"", ssl_context=client_ctx)
    assert error_class_of(info.value) == "tls"


@pytest.mark.parametrize("attr", ["maximum_version", "minimum_version"])
async def test_old_tls_context_is_refused(
    serve: Serve, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, transport: Transport, attr: str
) -> None:
    port = await serve(server_ctx)
    with warnings.catch_warnings():
        # Python deprecates naming TLS 1.1 at all; that is the point of this test.
        warnings.simplefilter("ignore", DeprecationWarning)
        if attr == "maximum_version":
            client_ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        setattr(client_ctx, attr, ssl.TLSVersion.TLSv1_1)
    with pytest.raises(DeliveryError) as info:
        await transport.send("POST", f"https://localhost:{port}/echo", {}, b"", ssl_context=client_ctx)
    assert error_class_of(info.value) == "tls_config"


async def test_send_after_close_raises() -> None:
    t = Transport(address_policy=LOOPBACK)
    await t.close()
    await t.close()
    with pytest.raises(RuntimeError):
        await t.send("POST", "https://127.0.0.1:1/", {}, b"")


def test_delivery_error_helper() -> None:
    err = delivery_error("boom", "connect")
    assert type(err) is DeliveryError
    assert err.error_class == "connect"  # type: ignore[attr-defined]
    ssrf = delivery_error("no", "ssrf")
    assert isinstance(ssrf, SSRFError)
    assert error_class_of(ssrf) == "ssrf"
    assert error_class_of(SSRFError("bare")) == "ssrf"
    assert error_class_of(ValueError()) == "unknown"
