"""The outbound URL rule: what is accepted is stored unchanged and is what the HTTP client will reach."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from hookgate.errors import ConfigError
from hookgate.policy.url import MAX_URL_LENGTH, validate_url

ACCEPTED = [
    "https://receiver.example.com/hooks",
    "https://receiver.example.com",
    "https://Receiver.Example.COM/Path?Query=Yes",
    "HTTPS://receiver.example.com/x",
    "https://receiver.example.com./x",  # fully qualified, trailing dot
    "https://my_host.example.com/x",  # underscores resolve in practice
    "https://123.example.com/x",  # numeric labels are fine unless the last one is
    "https://xn--bcher-kva.example/x",
    "https://receiver.example.com:8443/x",
    "https://receiver.example.com:65535/x",
    "https://receiver.example.com:1/x",
    "https://192.0.2.10/x",
    "https://0.0.0.0/x",  # dotted-decimal: refused by the SSRF guard when dialled, not here
    "https://255.255.255.255:443/",
    "https://[2001:db8::1]/x",
    "https://[2001:DB8::1]:8443/x",
    "https://[::ffff:192.0.2.1]/x",
    "https://receiver.example.com/a%20b/%7E?q=%00&r=%2F",
    "https://receiver.example.com/a:b@c!$&'()*+,;=~-._/?x=/?&y=",
    "https://receiver.example.com/..x/x../.../",
    "https://receiver.example.com?x=1",
    "https://receiver.example.com/x?",
    "https://" + "a" * 63 + ".example/x",
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted_urls_are_returned_exactly_as_given(url: str) -> None:
    assert validate_url(url, allow_insecure=False) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # not an absolute http(s) URL
        ("", r"must be an absolute https:// URL"),
        ("not a url", r"must be an absolute https:// URL"),
        ("receiver.example.com/x", r"must be an absolute https:// URL"),
        ("ftp://files.example.com/x", r"must be an absolute https:// URL"),
        ("javascript://alert(1)", r"must be an absolute https:// URL"),
        ("https:/receiver.example.com", r"must be an absolute https:// URL"),
        ("https:///no-host", r"absolute https:// URL \(it has no host\)"),
        ("https://", r"absolute https:// URL \(it has no host\)"),
        ("https://:443/x", r"absolute https:// URL \(it has no host\)"),
        ("https://?x", r"absolute https:// URL \(it has no host\)"),
        # characters a client would strip or re-encode
        ("https://exa mple.com/x", r"contains ' ' at position 11: whitespace and control characters"),
        ("https://example.com/x\r\nX-Evil: 1", r"contains '\\r' at position 21"),
        ("https://exa\r\nmple.com/x", r"contains '\\r' at position 11"),
        ("https://example.com/x\n", r"contains '\\n' at position 21"),
        ("https://example.com/\tx", r"contains '\\t' at position 20"),
        ("https://example.com/\x00", r"contains '\\x00' at position 20"),
        ("https://example.com/\x0b", r"contains '\\x0b'"),
        ("https://example.com/\x7f", r"contains '\\x7f'"),
        (" https://example.com/x", r"must be an absolute https:// URL"),
        ("https://example.com/x ", r"contains ' ' at position 21"),
        (
            "https://bücher.example/x",
            r"non-ASCII character 'ü' at position 9: write the host in its punycode",
        ),
        ("https://example.com/café", r"non-ASCII character 'é'"),
        ("https://example.com/a|b", r"path contains '\|', which must be percent-encoded"),
        ("https://example.com/a\\b", r"path contains '\\\\', which must be percent-encoded"),
        ("https://example.com/x?q={1}", r"query contains '\{', which must be percent-encoded"),
        ('https://example.com/"x"', r"path contains '\"'"),
        ("https://example.com/<x>", r"path contains '<'"),
        ("https://example.com/%zz", r"path has a '%' that does not start a %XX escape"),
        ("https://example.com/x?a=%4", r"query has a '%' that does not start a %XX escape"),
        ("https://example.com/a/../b", r"must not contain '\.' or '\.\.' segments"),
        ("https://example.com/a/./b", r"must not contain '\.' or '\.\.' segments"),
        ("https://example.com/a/%2E%2e/b", r"must not contain '\.' or '\.\.' segments"),
        ("https://example.com/..", r"must not contain '\.' or '\.\.' segments"),
        # never sent, or secrets in the wrong place
        ("https://example.com/x#frag", r"must not have a #fragment"),
        ("https://example.com#", r"must not have a #fragment"),
        ("https://user:pass@example.com/x", r"must not carry credentials"),
        ("https://token@example.com/x", r"must not carry credentials"),
        ("https://@example.com/x", r"must not carry credentials"),
        ("https://example.com\\@evil.example/x", r"must not carry credentials"),
        # numeric hosts that mean an IPv4 address only to some parsers
        ("https://127.1/x", r"host '127.1' is not an IPv4 address in dotted-decimal form"),
        ("https://0/x", r"host '0' is not an IPv4 address in dotted-decimal form"),
        ("https://2130706433/x", r"host '2130706433' is not an IPv4 address"),
        ("https://0177.0.0.1/x", r"host '0177.0.0.1' is not an IPv4 address"),
        ("https://0x7f.0.0.1/x", r"host '0x7f.0.0.1' is not an IPv4 address"),
        ("https://0x7f000001/x", r"host '0x7f000001' is not an IPv4 address"),
        ("https://127.0.0.01/x", r"host '127.0.0.01' is not an IPv4 address"),
        ("https://256.0.0.1/x", r"host '256.0.0.1' is not an IPv4 address"),
        ("https://1.2.3.4.5/x", r"host '1.2.3.4.5' is not an IPv4 address"),
        ("https://1.2.3.4./x", r"host '1.2.3.4.' is not an IPv4 address"),
        ("https://example.123/x", r"host 'example.123' is not an IPv4 address"),
        ("https://example.0x/x", r"host 'example.0x' is not an IPv4 address"),
        # host names that cannot resolve
        ("https://a..b/x", r"host 'a..b' is not a valid host name"),
        ("https://.example.com/x", r"host '.example.com' is not a valid host name"),
        ("https://./x", r"host '.' is not a valid host name"),
        ("https://-a.example/x", r"host '-a.example' is not a valid host name"),
        ("https://a-.example/x", r"host 'a-.example' is not a valid host name"),
        ("https://exa%6dple.com/x", r"host 'exa%6dple.com' is not a valid host name"),
        ("https://" + "a" * 64 + ".example/x", r"is not a valid host name"),
        ("https://" + ".".join(["a" * 63] * 4) + "/x", r"is not a valid host name"),
        ("https://exa!mple.com/x", r"is not a valid host name"),
        # IPv6 literals
        ("https://[::1%25eth0]/x", r"has an IPv6 zone"),
        ("https://[fe80::1%eth0]/x", r"has an IPv6 zone"),
        ("https://[v1.x]/x", r"host '\[v1.x\]' is not an IPv6 address"),
        ("https://[127.0.0.1]/x", r"is not an IPv6 address"),
        ("https://[::1/x", r"unclosed '\['"),
        ("https://[::1]x/", r"has 'x' after its IPv6 host"),
        ("https://[::1]:/", r"port '' must be a number from 1 to 65535"),
        ("https://::1/x", r"it has no host"),
        # ports
        ("https://example.com:0/x", r"port '0' must be a number from 1 to 65535"),
        ("https://example.com:65536/x", r"port '65536' must be a number from 1 to 65535"),
        ("https://example.com:99999999999/x", r"port '99999999999'"),
        ("https://example.com:/x", r"port '' must be a number"),
        ("https://example.com:080/x", r"port '080' must be a number .* \(no leading zeros\)"),
        ("https://example.com:-1/x", r"port '-1'"),
        ("https://example.com:+443/x", r"port '\+443'"),
        ("https://example.com:http/x", r"port 'http'"),
        ("https://example.com:443:443/x", r"port '443:443'"),
        # length
        ("https://example.com/" + "a" * (MAX_URL_LENGTH - 19), rf"at most {MAX_URL_LENGTH} are allowed"),
    ],
)
def test_urls_that_can_never_be_delivered_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_url(url, allow_insecure=True)


def test_the_longest_allowed_url() -> None:
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - 20)
    assert validate_url(url, allow_insecure=False) == url


@pytest.mark.parametrize("url", ["http://receiver.example.com/x", "HTTP://receiver.example.com/x"])
def test_http_needs_the_insecure_option(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^endpoint URL must use https \(allow_insecure is"):
        validate_url(url, allow_insecure=False)
    assert validate_url(url, allow_insecure=True) == url


def test_messages_name_the_field_and_its_insecure_option() -> None:
    with pytest.raises(ConfigError, match=r"^auth\.token_url host '127\.1' is not"):
        validate_url("https://127.1/token", allow_insecure=False, what="auth.token_url")
    with pytest.raises(ConfigError, match=r"^source 'x': jwks_url must use https \(jwks_insecure is"):
        validate_url(
            "http://a.example/j",
            allow_insecure=False,
            what="source 'x': jwks_url",
            insecure_option="jwks_insecure",
        )


@pytest.mark.parametrize("value", [None, 1, b"https://example.com/", ["https://example.com/"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(ConfigError, match=r"must be a string"):
        validate_url(value, allow_insecure=True)


# -- properties ---------------------------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9_](?:[a-z0-9_-]{0,10}[a-z0-9_])?", fullmatch=True)
_dns = (
    st.lists(_label, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda h: not h.rsplit(".", 1)[-1].isdigit())
)
_v4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_v6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
_segment = st.text("abcXYZ019-._~!$&'()*+,;=:@", max_size=8).filter(lambda s: s not in {".", ".."})
_query = st.text("abc=&?/", max_size=12) | st.just("a=%41")


@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.one_of(_dns, _v4, _v6),
    st.none() | st.integers(1, 65535),
    st.lists(_segment, max_size=4),
    st.none() | _query,
)
def test_accepted_urls_reach_the_host_and_port_the_client_parses(
    scheme: str, host: str, port: int | None, segments: list[str], query: str | None
) -> None:
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}/{'/'.join(segments)}"
    url += "" if query is None else f"?{query}"
    assert validate_url(url, allow_insecure=True) == url
    # aiohttp parses the stored URL with yarl: it must agree with the rule on where the request goes
    parsed = URL(url)
    assert parsed.host is not None
    if host.startswith("["):
        assert ipaddress.ip_address(parsed.host) == ipaddress.ip_address(host[1:-1])
    else:
        assert parsed.host == host.lower()
    assert parsed.port == (port or {"http": 80, "https": 443}[scheme.lower()])


@given(st.text(max_size=80) | st.text(max_size=40).map(lambda s: "https://" + s))
def test_the_parser_only_ever_raises_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert validate_url(text, allow_insecure=True) == text


@given(st.text("hpst:/[]@?#%.:0123456789abcdefx-_ \r\n\x00", max_size=40).map(lambda s: "https://" + s))
def test_accepted_urls_hold_no_whitespace_control_or_fragment(text: str) -> None:
    try:
        validate_url(text, allow_insecure=True)
    except ConfigError:
        return
    assert not any(c in text for c in " \r\n\x00#")
    # no user:pass@ in the authority ('@' is a legal character of a path or query)
    authority = text.removeprefix("https://").split("/", 1)[0].split("?", 1)[0]
    assert "@" not in authority
    URL(text)  # the delivery client can parse it
