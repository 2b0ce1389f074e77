"""The header rule (RFC 9110 names and values): table-driven, fuzzed, and checked against a real send."""

from __future__ import annotations

import contextlib
import string
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from hookgate.errors import ConfigError
from hookgate.outbound.transport import Transport
from hookgate.policy.ssrf import AddressPolicy
from hookgate.schemes.headers import MAX_HEADER_NAME, MAX_HEADER_VALUE, check_header_name, check_header_value

TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters


@pytest.mark.parametrize(
    "name", ["X-API-Key", "x-token", "Authorization", "X_Custom.Key~1", TCHAR, "X" * MAX_HEADER_NAME]
)
def test_token_names_are_accepted(name: str) -> None:
    assert check_header_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", r"^'' is not a valid HTTP header name"),
        ("X API Key", r"is not a valid HTTP header name"),
        ("X-Key:", r"is not a valid HTTP header name"),
        ("X-Kéy", r"is not a valid HTTP header name"),
        ("(key)", r"is not a valid HTTP header name"),
        ("X-Key\r", r"is not a valid HTTP header name"),
        ("X-API-Key\n", r"is not a valid HTTP header name"),
        ("X-\x00", r"is not a valid HTTP header name"),
        ("X-\x7f", r"is not a valid HTTP header name"),
        ('X-"q"', r"is not a valid HTTP header name"),
        ("X" * (MAX_HEADER_NAME + 1), rf"is {MAX_HEADER_NAME + 1} characters long; at most 256"),
        ("X" * 10_000, r"is 10000 characters long; at most 256 are allowed"),
        (None, r"header name None must be a string"),
        (b"X-Key", r"must be a string"),
    ],
)
def test_invalid_names_are_refused(name: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_header_name(name)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "acme",
        "Bearer abc.def-ghi",
        "a b\tc",
        "a  \t  b",
        string.punctuation,
        "".join(chr(c) for c in range(0x21, 0x7F)),
        "x" * MAX_HEADER_VALUE,
    ],
)
def test_visible_ascii_values_are_accepted(value: str) -> None:
    assert check_header_value(value, "X-Test") == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\rb", r"control character \('\\r'\)"),
        ("a\nb", r"control character \('\\n'\)"),
        ("a\r\nX-Injected: 1", r"control character \('\\r'\)"),
        ("a\x00b", r"control character \('\\x00'\)"),
        ("a\x0bb", r"control character \('\\x0b'\)"),  # VT
        ("a\x0cb", r"control character \('\\x0c'\)"),  # FF
        ("a\x7fb", r"control character \('\\x7f'\)"),  # DEL
        ("a\x01b", r"control character \('\\x01'\)"),
        ("a\x1bb", r"control character \('\\x1b'\)"),
        ("a\x85b", r"non-ASCII character \('\\x85'\)"),
        ("café", r"non-ASCII character \('é'\)"),
        ("a\u2028b", r"non-ASCII character"),
        (" a", r"must not start or end with a space or tab"),
        ("a ", r"must not start or end with a space or tab"),
        ("\ta", r"must not start or end with a space or tab"),
        (" ", r"must not start or end with a space or tab"),
        ("x" * (MAX_HEADER_VALUE + 1), r"4097 characters long; at most 4096"),
        (3, r"must be a string, not int"),
        (None, r"must be a string, not NoneType"),
    ],
)
def test_invalid_values_are_refused_naming_the_header(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^header 'X-Test': the value .*" + message):
        check_header_value(value, "X-Test")


@given(st.text(max_size=40))
def test_the_rules_only_ever_raise_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert check_header_name(text) == text
    with contextlib.suppress(ConfigError):
        assert check_header_value(text, "X-Test") == text


@given(st.text(max_size=40))
def test_accepted_values_are_visible_ascii_with_inner_blanks(text: str) -> None:
    try:
        check_header_value(text, "X-Test")
    except ConfigError:
        return
    assert all(c == "\t" or " " <= c <= "~" for c in text)
    assert text == text.strip(" \t")


# -- what the rule accepts, the HTTP client sends and a receiver gets unchanged -------------------------


@pytest.fixture
async def echo_url() -> AsyncIterator[tuple[str, dict[str, str]]]:
    seen: dict[str, str] = {}

    async def handle(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/", seen
    await runner.cleanup()


async def test_accepted_headers_arrive_unchanged(echo_url: tuple[str, dict[str, str]]) -> None:
    url, seen = echo_url
    headers = {
        "X-Tab": "a\tb",
        "X-Printable": "".join(chr(c) for c in range(0x21, 0x7F)),
        "X-Empty": "",
        "X-Long": "v" * MAX_HEADER_VALUE,
        "X" + "n" * (MAX_HEADER_NAME - 1): "long name",
        TCHAR: "every token character",
    }
    for name, value in headers.items():
        check_header_name(name)
        check_header_value(value, name)
    async with Transport(address_policy=AddressPolicy(allow=["127.0.0.0/8"])) as transport:
        response = await transport.send("POST", url, headers, b"{}", insecure_ok=True)
    assert response.status == 200
    for name, value in headers.items():
        assert seen[name] == value
