"""SSRF address classification and the allowlist policy."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookgate.errors import ConfigError, SSRFError
from hookgate.policy.ssrf import AddressPolicy, classify_address, unwrap_ipv4

# Teredo: server 65.54.227.120, client 127.0.0.1 stored XOR 0xffffffff (0x80fffffe).
TEREDO_LOOPBACK = "2001:0:4136:e378:8000:63bf:80ff:fffe"
TEREDO_PUBLIC = "2001:0:4136:e378:8000:63bf:f7f7:f7f7"  # client 8.8.8.8


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),
        ("169.254.1.1", "link_local"),
        ("100.64.0.1", "shared"),
        ("100.127.255.255", "shared"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not a bind
        ("0.1.2.3", "this_network"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.0.1", "reserved"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmark"),
        ("198.19.255.255", "benchmark"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link_local"),
        ("fe80::1%eth0", "link_local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("fec0::1", "site_local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001:2::1", "benchmark"),
        ("100::1", "discard"),
        ("64:ff9b:1::1", "nat64"),
        ("4000::1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("::ffff:0:7f00:1", "loopback"),
        ("::127.0.0.1", "loopback"),
        ("::10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a00:1::1", "private"),
        (TEREDO_LOOPBACK, "loopback"),
        ("not-an-ip", "invalid"),
        ("", "invalid"),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("2a00:1450:4001:82b::200e", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
        (TEREDO_PUBLIC, None),
    ],
)
def test_classify_address(ip: str, reason: str | None) -> None:
    assert classify_address(ip) == reason


def test_accepts_address_objects() -> None:
    assert classify_address(ipaddress.ip_address("127.0.0.1")) == "loopback"
    assert classify_address(ipaddress.IPv6Address("::ffff:7f00:1")) == "loopback"
    assert classify_address(ipaddress.IPv4Address("8.8.8.8")) is None


@pytest.mark.parametrize(
    ("ip", "embedded"),
    [
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::1.2.3.4", "1.2.3.4"),
        ("64:ff9b::102:304", "1.2.3.4"),
        ("2002:102:304::", "1.2.3.4"),
        (TEREDO_LOOPBACK, "127.0.0.1"),
        ("::1", None),
        ("::", None),
        ("1.2.3.4", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_unwrap_ipv4(ip: str, embedded: str | None) -> None:
    result = unwrap_ipv4(ip)
    assert (str(result) if result is not None else None) == embedded


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_mapped_classifies_like_ipv4(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    assert classify_address(mapped) == classify_address(v4)
    assert classify_address(str(mapped)) == classify_address(str(v4))


@pytest.mark.parametrize(
    ("allow", "ip", "allowed"),
    [
        ((), "8.8.8.8", True),
        ((), "2606:4700:4700::1111", True),
        ((), "127.0.0.1", False),
        ((), "::ffff:127.0.0.1", False),
        (("127.0.0.0/8",), "127.0.0.1", True),
        (("127.0.0.0/8",), "::ffff:127.0.0.1", True),
        (("127.0.0.0/8",), "64:ff9b::7f00:1", True),
        (("127.0.0.0/8",), "::1", False),
        (("127.0.0.0/8",), "10.0.0.1", False),
        (("10.1.0.0/16", "::1/128"), "10.1.2.3", True),
        (("10.1.0.0/16", "::1/128"), "10.2.0.1", False),
        (("10.1.0.0/16", "::1/128"), "::1", True),
        (("::ffff:0:0/96",), "::ffff:10.0.0.1", True),
        (("fd00::/8",), "fd00:ec2::254", True),
        (("192.168.1.5",), "192.168.1.5", True),
        (("192.168.1.5",), "192.168.1.6", False),
        (("10.0.0.1/8",), "10.9.9.9", True),  # host bits forgiven
        (("0.0.0.0/0",), "not-an-ip", False),
    ],
)
def test_address_policy(allow: tuple[str, ...], ip: str, allowed: bool) -> None:
    policy = AddressPolicy(allow)
    assert policy.is_allowed(ip) is allowed
    if allowed:
        policy.check(ip)
    else:
        with pytest.raises(SSRFError, match=rf"^refusing to connect to {ip}: "):
            policy.check(ip)


def test_check_message_names_reason() -> None:
    with pytest.raises(SSRFError, match=r"^refusing to connect to ::ffff:169\.254\.169\.254: metadata$"):
        AddressPolicy().check("::ffff:169.254.169.254")


def test_allow_all() -> None:
    policy = AddressPolicy(allow_all=True)
    for ip in ("127.0.0.1", "169.254.169.254", "::1", "10.0.0.1"):
        policy.check(ip)
        assert policy.is_allowed(ip)
    assert not policy.is_allowed("garbage")


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        (("10.0.0.0/33",), "'10.0.0.0/33'"),
        (("127.0.0.0/8", "localhost"), "'localhost'"),
        (("",), "''"),
        ((42,), "42"),
        ("10.0.0.0/8", "not a single string"),
    ],
)
def test_bad_allowlist(allow: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AddressPolicy(allow)
